"""Apply-time re-verification of a merge against a real git repository and the fake GitHub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jitflow.errors import Rejected
from jitflow.gh import GitHubClient
from jitflow.gitcmd import Git
from jitflow.pr.merge import VerifiedMerge, verify_merge
from jitflow.sandbox.github import FakeGitHub
from testing.check_repo import EXISTING, Repo

REPOSITORY = "acme/access"
TTL = timedelta(days=7)


class World:
    def __init__(self, tmp_path: Path, fake: FakeGitHub) -> None:
        self.repo = Repo(tmp_path / "repo")
        self.fake = fake
        fake.add_repo(REPOSITORY)
        fake.add_team("acme", "data-platform", {"dora": "active"})
        fake.add_team("acme", "data-eng", {})
        self.base = self.repo.git("rev-parse", "main").strip()
        self.client = GitHubClient(REPOSITORY, "t", fake.url, pace=False)
        self.number = 0
        self.head = ""

    def open(self, author: str = "alice", created_at: datetime | None = None) -> None:
        self.head = self.repo.git("rev-parse", "HEAD").strip()
        self.number = self.fake.open_pull(
            author=author, head_sha=self.head, base_sha=self.base, created_at=created_at
        )
        self.fake.add_commit_to_pull(self.number, self.head, author=author)

    def merge(self, method: str = "merge", merged_at: datetime | None = None) -> str:
        """Merge `pr` into main the way GitHub would for `method`; returns the pushed sha."""
        git = self.repo.git
        git("checkout", "--quiet", "main")
        if method == "merge":
            git("merge", "--quiet", "--no-ff", "-m", f"Merge #{self.number}", "pr")
        elif method == "squash":
            git("merge", "--quiet", "--squash", "pr")
            git("commit", "--quiet", "-m", f"Request (#{self.number})")
        else:
            git("merge", "--quiet", "--ff-only", "pr")
        sha = git("rev-parse", "HEAD").strip()
        self.fake.merge_pull(self.number, sha, method, merged_at=merged_at)  # type: ignore[arg-type]
        return sha

    def verify(
        self, sha: str, before: str | None = None, now: datetime | None = None
    ) -> VerifiedMerge:
        return verify_merge(
            Git(self.repo.path),
            sha,
            self.client,
            before=before,
            now=now or datetime.now(UTC),
            request_ttl=TTL,
        )


@pytest.fixture
def world(tmp_path: Path, fake_github: FakeGitHub) -> World:
    return World(tmp_path, fake_github)


def approved_request(world: World) -> None:
    world.repo.add_request()
    world.open()
    world.fake.add_review(world.number, "erin", "APPROVED")


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_approved_request_is_verified_for_every_merge_method(world: World, method: str) -> None:
    approved_request(world)
    merge = world.verify(world.merge(method), before=world.base)
    [plan] = merge.result.plans
    approval = merge.approval_for(plan.request, plan.policy)
    assert approval.approvers == ("erin",)
    assert approval.pr == world.number


def test_direct_push_grants_nothing(world: World) -> None:
    world.repo.add_request()
    world.repo.git("checkout", "--quiet", "main")
    world.repo.git("merge", "--quiet", "--ff-only", "pr")
    with pytest.raises(Rejected, match="not introduced by a pull request"):
        world.verify(world.repo.git("rev-parse", "HEAD").strip())


def test_unmerged_pull_request_grants_nothing(world: World) -> None:
    approved_request(world)  # the PR's own head commit is associated, but nothing merged it
    with pytest.raises(Rejected, match="not the merge commit of a merged pull request"):
        world.verify(world.head)


def test_stale_pull_request_is_refused(world: World) -> None:
    old = datetime.now(UTC) - timedelta(days=8)
    world.repo.add_request()
    world.open(created_at=old)
    world.fake.add_review(world.number, "erin", "APPROVED")
    with pytest.raises(Rejected, match="stale"):
        world.verify(world.merge())


def test_unapproved_request_is_rejected_at_apply(world: World) -> None:
    world.repo.add_request()
    world.open()
    world.fake.add_review(world.number, "alice", "APPROVED")  # self-approval
    merge = world.verify(world.merge())  # an admin bypassed branch protection
    [plan] = merge.result.plans
    with pytest.raises(Rejected, match="not approved"):
        merge.approval_for(plan.request, plan.policy)


def test_pull_request_that_also_edits_policies_is_refused(world: World) -> None:
    world.repo.add_request()
    world.repo.write("policies/analytics-raw.yaml", "description: widened\n")
    world.repo.commit("sneak a policy change in")
    world.open()
    world.fake.add_review(world.number, "erin", "APPROVED")
    with pytest.raises(Rejected, match="split"):
        world.verify(world.merge())


def test_modifying_a_merged_request_is_refused(world: World) -> None:
    text = (world.repo.path / EXISTING).read_text().replace("duration: 2h", "duration: 4h")
    world.repo.write(EXISTING, text)
    world.repo.commit("extend my grant")
    world.open()
    world.fake.add_review(world.number, "erin", "APPROVED")
    with pytest.raises(Rejected, match="immutable"):
        world.verify(world.merge())


def test_a_merge_reusing_the_id_of_a_grant_given_back_is_refused(world: World) -> None:
    """Apply refuses what the check refuses (the same `check_changes`, at the merge's base):
    an approved request under the id of a grant that was given back early."""
    rid = "analytics-raw/alice-clickstream-backfill"
    repo = world.repo
    repo.record_on_main(rid, "granted")
    repo.on_main(EXISTING, None)
    repo.record_on_main(rid, "early_revoked")
    repo.git("rebase", "--quiet", "main")
    world.base = repo.git("rev-parse", "main").strip()
    repo.add_request(EXISTING)
    world.open()
    world.fake.add_review(world.number, "erin", "APPROVED")
    with pytest.raises(Rejected, match=f"request id {rid} was already used.*never reused"):
        world.verify(world.merge())


def test_deleted_request_file_becomes_an_early_revoke(world: World) -> None:
    world.repo.remove(EXISTING)
    world.repo.commit("give my access back")
    world.open()
    merge = world.verify(world.merge())
    assert merge.result.deleted == ("analytics-raw/alice-clickstream-backfill",)
    assert merge.result.plans == ()


def test_rebase_push_carrying_more_than_the_pull_request_is_refused(world: World) -> None:
    approved_request(world)
    world.repo.git("checkout", "--quiet", "main")
    world.repo.write("notes.txt", "unreviewed\n")
    world.repo.commit("direct commit")
    world.repo.git("checkout", "--quiet", "pr")
    world.repo.git("rebase", "--quiet", "main")
    sha = world.merge("rebase")
    with pytest.raises(Rejected, match="holds 2 commits"):
        world.verify(sha, before=world.base)


def test_a_deletion_without_its_approvals_is_left_to_apply_not_the_whole_merge(
    world: World,
) -> None:
    world.repo.remove(EXISTING)  # alice's request
    world.repo.commit("end alice's access")
    world.open(author="bob")
    merge = world.verify(world.merge())  # an admin merged it without approvals
    [deletion] = merge.result.deletions
    assert not deletion.allowed and deletion.requester == "alice"
    assert "needs 1 approval(s)" in deletion.why_not()
