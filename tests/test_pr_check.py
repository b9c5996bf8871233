"""`jitflow.pr.check`: the pull-request check over real git repositories (no GitHub)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jitflow.approvals import APPROVED, PullFacts, Review
from jitflow.audit.store import AuditLog
from jitflow.gh import STICKY_MARKER
from jitflow.gitcmd import Git
from jitflow.pr.check import COMMENT_MARKER, CheckResult, check_changes
from jitflow.pr.report import render_report
from testing.builders import pull_facts
from testing.check_repo import EXISTING, NEW, Repo, dump, request_data

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


class Teams:
    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.members = members or {}
        self.asked: list[tuple[str, str, str]] = []

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        self.asked.append((org, team_slug, login))
        return login in self.members.get(f"{org}/{team_slug}", set())

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        return True


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def run(repo: Repo, author: str = "alice", **kwargs: object) -> CheckResult:
    return check_changes(Git(repo.path), "main", "pr", author, applied_at=AT, **kwargs)  # type: ignore[arg-type]


def messages(result: CheckResult) -> str:
    return "\n".join(f"{p.path}: {p.message}" for p in result.problems)


def pull(head: str, *reviews: tuple[str, str | None], author: str = "alice") -> PullFacts:
    return pull_facts(
        *(Review(login, APPROVED, sha, AT) for login, sha in reviews),
        author=author, head=head, created_at=AT,
    )


def test_valid_request_gives_a_plan(repo: Repo) -> None:
    repo.add_request()
    result = run(repo)
    assert result.ok, messages(result)
    assert [r.id for r in result.requests] == ["analytics-raw/alice-new-backfill"]
    assert len(result.plans) == 1
    assert result.plans[0].expiry == datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    report = render_report(result)
    assert report.startswith("<!-- jitflow:check -->")
    assert "arn:aws:s3:::analytics-raw/clickstream/2026/11/28/*" in report
    assert not result.approvals_checked


def test_no_request_changed_passes_with_a_note(repo: Repo) -> None:
    repo.write("policies/analytics-raw.yaml", "description: changed\n")
    repo.commit("policy edit only")
    result = run(repo)
    assert result.ok
    assert not result.touches_requests
    assert "no file under requests/ changed" in result.notes[0]


@pytest.mark.parametrize(
    "other",
    [
        "policies/analytics-raw.yaml",
        ".github/workflows/x.yml",
        "jitflow.yaml",
        "requests/README.md",
        "jitflow/cli.py",
        ".github/CODEOWNERS",
    ],
)
def test_mixed_pr_is_told_to_split(repo: Repo, other: str) -> None:
    repo.write(NEW, dump(request_data()))
    repo.write(other, "# changed\n")
    repo.commit("mixed")
    result = run(repo)
    assert not result.ok
    flagged = [p for p in result.errors if p.path == other]
    assert flagged and "split" in flagged[0].message


def test_base_policies_are_used_not_the_prs(repo: Repo) -> None:
    # The PR widens its own policy to cover the bucket it asks for: must not help.
    policy = (repo.path / "policies/analytics-raw.yaml").read_text()
    repo.write(
        "policies/analytics-raw.yaml",
        policy.replace("[analytics-raw,", "[secret-bucket, analytics-raw,"),
    )
    access = [{"bucket": "secret-bucket", "prefix": "clickstream/x/", "actions": ["s3:PutObject"]}]
    repo.add_request(access=access)
    result = run(repo)
    assert not result.ok
    assert "bucket 'secret-bucket' is not covered" in messages(result)
    assert result.plans == ()


def test_base_branch_tip_policy_is_used(repo: Repo) -> None:
    # The base moved on after the PR branched: its newest policies judge the request.
    repo.add_request(duration="3h")
    assert run(repo).ok
    policy = (repo.path / "policies/analytics-raw.yaml").read_text()
    repo.on_main(
        "policies/analytics-raw.yaml", policy.replace("max_duration: 4h", "max_duration: 1h")
    )
    result = run(repo)
    assert "over the policy's max_duration" in messages(result)


def test_modified_request_is_refused(repo: Repo) -> None:
    text = (repo.path / EXISTING).read_text()
    repo.write(EXISTING, text.replace("duration: 2h", "duration: 4h"))
    repo.commit("extend")
    result = run(repo)
    assert not result.ok
    assert "requests are immutable; add a new file to extend" in messages(result)


def test_same_id_with_other_suffix_is_refused(repo: Repo) -> None:
    repo.add_request(EXISTING.replace(".yaml", ".yml"))
    result = run(repo)
    assert not result.ok
    assert "already exists on the base branch" in messages(result)


EXISTING_ID = "analytics-raw/alice-clickstream-backfill"


def test_an_id_granted_and_given_back_is_never_reused(repo: Repo) -> None:
    """Granted, then given back early (file deleted, `early_revoked` recorded): a new request
    under the same id would be taken by the engine for the ended grant."""
    repo.record_on_main(EXISTING_ID, "granted")
    repo.on_main(EXISTING, None)
    repo.record_on_main(EXISTING_ID, "early_revoked")
    repo.git("rebase", "--quiet", "main")
    repo.add_request(EXISTING)
    result = run(repo)
    assert not result.ok
    assert [p.path for p in result.errors] == [EXISTING]
    assert "never reused" in messages(result)
    assert "audit log records it" in messages(result)


@pytest.mark.parametrize("events", [("granted",), ("rejected",), ("granted", "expired"),
                                    ("orphan_revoked",)])
def test_any_record_of_an_id_makes_it_used(repo: Repo, events: tuple[str, ...]) -> None:
    """An open grant whose file is gone (a deletion apply refused), an apply's refusal, an
    expiry, a grant found in AWS without its request: the log names the id, so it is used."""
    repo.record_on_main("analytics-raw/alice-new-backfill", *events)
    repo.add_request()
    assert "never reused" in messages(run(repo))


def test_a_recorded_id_is_used_under_either_suffix(repo: Repo) -> None:
    old = NEW.replace(".yaml", ".yml")
    repo.on_main(old, dump(request_data()))
    repo.record_on_main("analytics-raw/alice-new-backfill", "granted", "expired")
    repo.on_main(old, None)
    repo.add_request(NEW)
    assert "never reused" in messages(run(repo))


def test_only_the_reused_ids_of_a_pr_with_many_files_are_refused(repo: Repo) -> None:
    reused = "requests/analytics-raw/alice-old.yaml"
    repo.on_main(reused, dump(request_data()))
    repo.record_on_main("analytics-raw/alice-old", "granted", "early_revoked")
    repo.on_main(reused, None)
    fresh = [f"requests/analytics-raw/alice-new-{i}.yaml" for i in range(4)]
    for name in [*fresh, reused]:
        repo.write(name, dump(request_data()))
    repo.commit("five requests")
    result = run(repo)
    assert [p.path for p in result.errors] == [reused]
    assert "never reused" in result.errors[0].message
    assert sorted(r.id for r in result.requests) == sorted(
        f"analytics-raw/alice-new-{i}" for i in range(4)
    )


def test_an_id_once_on_the_base_that_no_record_names_is_free(repo: Repo) -> None:
    """Merged and removed again before any apply recorded anything (its merge refused as a
    whole, say): nothing in the ledger or AWS carries the id, so a new request may take it.
    The check reads the audit log, not the history of requests/."""
    repo.on_main(NEW, dump(request_data(ticket="OPS-1")))
    repo.on_main(NEW, None)
    repo.record_on_main("analytics-raw/another", "granted")  # the log names other ids only
    repo.add_request()
    result = run(repo)
    assert result.ok, messages(result)
    assert [r.id for r in result.requests] == ["analytics-raw/alice-new-backfill"]


def test_ids_in_a_segment_and_past_a_broken_line_are_used(repo: Repo) -> None:
    """The check reads every line it can parse, whatever the chain's state: a line that does
    not parse (`jitflow audit verify`'s finding) hides no id after it, and a revoke's marked
    segment (audit/segment-<n>.jsonl) counts as the month files do."""
    segment = '{"event":"orphan_revoked","request":"analytics-raw/alice-second"}\n'
    repo.on_main("audit/segment-1.jsonl", segment)
    broken = 'not json\n{"event":"granted","request":"analytics-raw/alice-new-backfill"}\n'
    repo.on_main("audit/2026-11.jsonl", broken)
    repo.add_request()
    repo.add_request("requests/analytics-raw/alice-second.yaml")
    result = run(repo)
    assert sorted(p.path for p in result.errors) == [
        "requests/analytics-raw/alice-new-backfill.yaml",
        "requests/analytics-raw/alice-second.yaml",
    ]
    assert all("never reused" in p.message for p in result.errors)


def test_git_calls_do_not_grow_with_the_added_files(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, ...]] = []
    real_run = Git._run

    def counting(self: Git, args: Sequence[str], **kwargs: Any) -> Any:
        calls.append(tuple(args))
        return real_run(self, args, **kwargs)

    monkeypatch.setattr(Git, "_run", counting)
    counts = []
    for count in (1, 6):
        for i in range(count):
            repo.write(f"requests/analytics-raw/alice-{count}-{i}.yaml", dump(request_data()))
        repo.commit(f"{count} requests")
        calls.clear()
        result = run(repo)
        assert result.ok and len(result.requests) == count, messages(result)
        repo.git("reset", "--quiet", "--hard", "HEAD~1")
        counts.append(len(calls))
    assert counts[0] == counts[1]
    assert not [args for args in calls if "log" in args]  # no pass over the history


def test_deleted_request_notes_early_revoke(repo: Repo) -> None:
    repo.remove(EXISTING)
    repo.commit("give back early")
    result = run(repo)
    assert result.ok, messages(result)
    assert result.deleted == ("analytics-raw/alice-clickstream-backfill",)
    assert "early revoke" in " ".join(result.notes)
    assert "early revoke" in render_report(result)


DELETED_ID = "analytics-raw/alice-clickstream-backfill"  # EXISTING: alice's request on main
NEEDS = "needs 1 approval(s) from @acme/data-platform, erin"


def test_the_requester_deletes_their_own_request_with_no_approval(repo: Repo) -> None:
    repo.remove(EXISTING)
    head = repo.commit("give my access back")
    result = run(repo, pull=pull(head), teams=Teams())  # no review at all
    assert result.ok, messages(result)
    [deletion] = result.deletions
    assert deletion.own and deletion.allowed and deletion.requester == "alice"
    assert "gives their own access back" in " ".join(result.notes)


def test_deleting_another_persons_request_needs_the_policys_approvals(repo: Repo) -> None:
    repo.remove(EXISTING)
    head = repo.commit("end alice's access")
    short = run(repo, "bob", pull=pull(head, ("bob", head), author="bob"), teams=Teams())
    assert not short.ok
    [problem] = short.errors
    assert problem.path == EXISTING
    assert f"ends alice's request ({DELETED_ID}) and {NEEDS}" in problem.message
    assert "self-approval" in problem.message  # the grant's rules: bob's own review is not one
    assert not short.deletions[0].allowed
    report = render_report(short)
    assert "needs 1 approval(s) from @\u200bacme/data-platform, erin" in report
    assert short.merge_errors == ()  # apply refuses the deletion alone, not the whole merge
    enough = run(repo, "bob", pull=pull(head, ("erin", head), author="bob"), teams=Teams())
    assert enough.ok, messages(enough)
    assert enough.deletions[0].allowed and not enough.deletions[0].own


def test_a_local_check_of_another_persons_deletion_says_what_it_needs(repo: Repo) -> None:
    repo.remove(EXISTING)
    repo.commit("end alice's access")
    result = run(repo, "bob")  # no pull request: approvals are not checked
    assert result.ok and not result.deletions[0].allowed
    assert f"{NEEDS} (approvals not checked here)" in " ".join(result.notes)
    assert "approvals not checked" in render_report(result)


def test_a_deleted_file_unreadable_on_the_base_needs_the_policys_approvals(repo: Repo) -> None:
    broken = "requests/analytics-raw/alice-broken.yaml"
    repo.on_main(broken, "requester: [alice\n")  # not YAML: it names nobody
    repo.git("rebase", "--quiet", "main")
    repo.remove(broken)
    head = repo.commit("remove it")
    short = run(repo, pull=pull(head), teams=Teams())
    assert not short.ok
    assert "ends a request that cannot be read on the base branch" in messages(short)
    assert NEEDS in messages(short)
    enough = run(repo, pull=pull(head, ("erin", head)), teams=Teams())
    assert enough.ok, messages(enough)


@pytest.mark.parametrize("content", ["requester: [alice\n", dump(request_data(requester="bob"))])
def test_deleting_under_a_policy_gone_from_the_base_is_refused(repo: Repo, content: str) -> None:
    gone = "requests/retired/old.yaml"
    repo.on_main(gone, content)  # no policies/retired.yaml: nobody can approve its deletion
    repo.git("rebase", "--quiet", "main")
    repo.remove(gone)
    head = repo.commit("remove it")
    for result in (run(repo, pull=pull(head, ("erin", head)), teams=Teams()), run(repo)):
        assert not result.ok
        [problem] = result.errors
        assert problem.path == gone
        assert "policy retired is not on the base branch, so nobody can approve it" in (
            problem.message)
    assert "is refused" in render_report(result)


def test_the_requester_may_delete_their_own_request_under_a_policy_gone(repo: Repo) -> None:
    gone = "requests/retired/old.yaml"
    repo.on_main(gone, dump(request_data()))
    repo.git("rebase", "--quiet", "main")
    repo.remove(gone)
    head = repo.commit("give it back")
    result = run(repo, pull=pull(head), teams=Teams())
    assert result.ok, messages(result)
    assert result.deletions[0].own


def test_the_requester_is_read_from_the_base_not_the_pull_requests_history(repo: Repo) -> None:
    """A PR that rewrites the file to name its author, then deletes it, is still deleting the
    base's request: the requester is the base's."""
    text = (repo.path / EXISTING).read_text()
    repo.write(EXISTING, text.replace("requester: alice", "requester: bob"))
    repo.commit("make it mine")
    repo.remove(EXISTING)
    head = repo.commit("and give it back")
    result = run(repo, "bob", pull=pull(head, author="bob"), teams=Teams())
    assert not result.ok
    assert "ends alice's request" in messages(result)


def test_author_must_be_requester(repo: Repo) -> None:
    repo.add_request()
    result = run(repo, author="bob")
    assert not result.ok
    [problem] = result.errors
    assert "only the requester may open their request" in problem.message
    assert problem.line == 1  # the requester: line of the file


@pytest.mark.parametrize(
    "name", ["requests/analytics-raw/x.json", "requests/x.yaml", "requests/analytics-raw/a/b.yaml"]
)
def test_misplaced_files_under_requests_are_refused(repo: Repo, name: str) -> None:
    repo.write(name, dump(request_data()))
    repo.commit("misplaced")
    result = run(repo)
    assert not result.ok
    assert "not a request file" in messages(result)


def test_invalid_request_reports_lines(repo: Repo) -> None:
    repo.add_request(duration="9h")
    result = run(repo)
    [problem] = result.errors
    assert problem.path == NEW and problem.line == 5
    assert "max_duration" in problem.message


def test_approvals_short_then_enough(repo: Repo) -> None:
    head = repo.add_request()
    short = run(repo, pull=pull(head), teams=Teams())
    assert short.approvals_checked and not short.ok and not short.errors
    assert (
        short.approvals["analytics-raw/alice-new-backfill"]
        .summary()
        .startswith("approvals: 0 of 1 from @acme/data-platform, erin")
    )
    enough = run(repo, pull=pull(head, ("erin", head)), teams=Teams())
    assert enough.ok
    assert "approvals: 1 of 1" in render_report(enough)


def test_team_requester_is_resolved(repo: Repo) -> None:
    repo.on_main(
        "policies/identities.yaml",
        (repo.path / "policies/identities.yaml").read_text()
        + "carol:\n  - arn:aws:iam::111122223333:role/carol\n",
    )
    head = repo.add_request(requester="carol", principal="arn:aws:iam::111122223333:role/carol")
    outsider = run(repo, author="carol", pull=pull(head), teams=Teams())
    assert "may not request under policy" in messages(outsider)
    member = run(
        repo,
        author="carol",
        pull=pull(head, ("erin", head)),
        teams=Teams({"acme/data-eng": {"carol"}}),
    )
    assert member.ok, messages(member)


def test_report_escapes_untrusted_text(repo: Repo) -> None:
    nasty = "x <img src=x> @acme/security `code` | pipe"
    repo.add_request(reason=nasty)
    valid = render_report(run(repo))
    assert "x &lt;img src=x&gt;" in valid or "x &lt;img src=x>" in valid  # the reason is shown
    repo.add_request(
        "requests/analytics-raw/alice-two.yaml",
        access=[{"bucket": nasty, "prefix": "clickstream/", "actions": ["s3:PutObject"]}],
    )
    invalid = render_report(run(repo))
    assert "x &lt;img src=x&gt;" in invalid  # quoted in the problem message
    for report in (valid, invalid):
        assert "<img" not in report
        assert "@acme/security" not in report


def test_comment_marker_is_the_one_gh_looks_for() -> None:
    assert COMMENT_MARKER == STICKY_MARKER


def _recorded_size(size: int) -> str:
    """An audit log on the base whose last record measured analytics-raw's bucket policy."""
    log = AuditLog(Path(tempfile.mkdtemp()))
    record = log.append("granted", {
        "request": "analytics-raw/earlier", "account": "111122223333",
        "grant_mode": "bucket-policy",
        "buckets": [{"bucket": "analytics-raw", "sids": ["S"], "sha256": "0" * 64,
                     "policy_bytes": size}]}, AT)
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def test_the_report_shows_the_bucket_policy_size_budget(repo: Repo) -> None:
    repo.on_main("audit/2026-11.jsonl", _recorded_size(4_000))
    repo.add_request()
    result = run(repo)
    assert result.ok, messages(result)
    (budget,) = result.budgets["analytics-raw/alice-new-backfill"]
    assert budget.current == 4_000 and 4_000 < budget.total < 20_480
    assert "Bucket policy size" in render_report(result)


def test_a_grant_that_would_pass_the_20_kb_limit_is_refused_before_merge(repo: Repo) -> None:
    repo.on_main("audit/2026-11.jsonl", _recorded_size(20_300))
    repo.add_request()
    result = run(repo)
    assert not result.ok
    assert "over S3's limit of 20,480" in messages(result)


def test_two_grants_in_one_pull_request_count_against_one_budget(repo: Repo) -> None:
    repo.on_main("audit/2026-11.jsonl", _recorded_size(20_000))
    first = run(repo)  # nothing added yet: nothing to refuse
    assert first.ok
    repo.add_request()
    repo.add_request("requests/analytics-raw/alice-second.yaml",
                     access=[{"bucket": "analytics-raw", "prefix": "clickstream/2026/11/29/",
                              "actions": ["s3:PutObject"]}])
    result = run(repo)
    budgets = [result.budgets[r.id][0].total for r in result.requests]
    assert budgets[1] > budgets[0]  # the second counts the first


def test_a_read_only_baseline_without_jitflow_roles_is_refused_before_merge(repo: Repo) -> None:
    policy = (repo.path / "policies" / "analytics-raw.yaml").read_text()
    repo.on_main("policies/analytics-raw.yaml", policy + "enforce_read_only: true\n")
    repo.add_request()
    assert "lists no jitflow_roles for account 111122223333" in messages(run(repo))
    settings = (repo.path / "jitflow.yaml").read_text().replace(
        '"111122223333": {}',
        '"111122223333":\n    jitflow_roles: '
        '[arn:aws:iam::111122223333:role/jitflow/jitflow-apply]')
    assert settings != (repo.path / "jitflow.yaml").read_text()
    repo.on_main("jitflow.yaml", settings)
    result = run(repo)
    assert result.ok, messages(result)


def test_a_scheduled_start_is_judged_at_check_time_and_shown_in_the_plan(repo: Repo) -> None:
    repo.add_request(not_before="2026-11-30T08:00:00Z")
    result = run(repo)
    assert result.ok, messages(result)
    plan = result.plans[0]
    assert (plan.start, plan.expiry) == (datetime(2026, 11, 30, 8, tzinfo=UTC),
                                         datetime(2026, 11, 30, 10, tzinfo=UTC))
    assert "from 2026-11-30T08:00:00Z (not_before)" in render_report(result)


def test_a_scheduled_start_in_the_past_fails_the_check_but_not_the_merge(repo: Repo) -> None:
    """At merge (apply re-runs the check) a start that has passed means: start at apply."""
    repo.add_request(not_before="2026-11-28T08:00:00Z")  # an hour before AT
    assert "not_before 2026-11-28T08:00:00Z is in the past" in messages(run(repo))
    merged = replace(pull("x"), merged=True)
    assert "not_before" not in messages(run(repo, pull=merged))
