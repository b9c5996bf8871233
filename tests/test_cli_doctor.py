"""`jitflow doctor` through the real entry point (`jitflow.cli.main`, in this process so that
moto's mock covers boto3), against the fake GitHub (every response validated against GitHub's
OpenAPI) and moto's IAM.

A healthy setup (testing/doctor_setup.py) is all ✔; each test then changes one thing and
expects exactly its item to turn ✘, with a link to the section of docs/setup.md that says how
to fix it.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jitflow.audit import chain
from jitflow.cli import main
from jitflow.clock import iso
from jitflow.doctor.expected import REGION_VARIABLE, REQUIRED_CHECK, ROLE_VARIABLES
from jitflow.doctor.findings import ANCHORS, SETUP_GUIDE
from jitflow.oidc import CALLERS, REUSABLE, WORKFLOWS_DIR
from jitflow.sandbox.github import FakeProtection
from testing.doctor_setup import (
    ACCOUNT,
    PROVIDER,
    REPOSITORY,
    HealthySetup,
    caller_text,
    role_arn,
    trust_policy,
)
from testing.foundation import ROOT

ITEM_OF_ANCHOR = {anchor: item for item, anchor in ANCHORS.items()}
LINE = re.compile(r"^✘ (?P<message>.*) \(see " + re.escape(SETUP_GUIDE)
                  + r"#(?P<anchor>[a-z0-9-]+)\)$")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def wrong(self) -> list[tuple[str, str]]:
        """(item, message) of every ✘ line, each of which must carry its link."""
        found = []
        for line in self.out.splitlines():
            if line.startswith("✘"):
                match = LINE.match(line)
                assert match, f"a ✘ line without its setup guide link: {line}"
                found.append((ITEM_OF_ANCHOR[match["anchor"]], match["message"]))
        return found


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def test_a_healthy_setup_is_all_good(healthy_setup: HealthySetup,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    run = doctor(capsys)
    assert run.code == 0, run.out + run.err
    assert run.wrong == []
    assert run.out.rstrip().endswith("jitflow doctor: all good")
    assert "✔ team @acme/data-platform exists and can write to acme/access" in run.out
    report = doctor(capsys, "--format", "json")
    assert report.code == 0
    data = json.loads(report.out)
    assert data["ok"] is True
    assert {f["item"] for f in data["findings"]} == set(ANCHORS)  # every item was checked
    assert all(f["ok"] and "link" not in f for f in data["findings"])


# -- one change, one ✘ ------------------------------------------------------------------------


def _policy_with_team(setup: HealthySetup, team: str) -> None:
    text = (ROOT / "policies" / "analytics-raw.yaml").read_text()
    setup.put_file("policies/analytics-raw.yaml", text.replace("@acme/data-platform", team))


def _status_check(setup: HealthySetup, check: dict[str, Any]) -> None:
    setup.rule("required_status_checks")["parameters"]["required_status_checks"] = [check]


def _review(setup: HealthySetup, parameter: str) -> None:
    setup.rule("pull_request")["parameters"][parameter] = False


def _environment(setup: HealthySetup, policy: str, branches: list[tuple[str, str]]) -> None:
    setup.fake.add_environment("jitflow-apply", policy, branches)  # type: ignore[arg-type]


def _second_trust_statement(setup: HealthySetup) -> None:
    trust = trust_policy(setup.subject("apply"))
    trust["Statement"].append({"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}})
    setup.set_trust("apply", trust)


def _loose_subject(setup: HealthySetup) -> None:
    trust = trust_policy(setup.subject("apply"))
    condition = trust["Statement"][0]["Condition"]
    condition["StringLike"] = {"token.actions.githubusercontent.com:sub":
                               condition["StringEquals"].pop("token.actions.githubusercontent.com:sub")}
    setup.set_trust("apply", trust)


def _extra_policy(setup: HealthySetup) -> None:
    arn = setup.iam.create_policy(PolicyName="admin", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))["Policy"]["Arn"]
    setup.iam.attach_role_policy(RoleName="jitflow-revoke", PolicyArn=arn)


NOTIFY_SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:jitflow/hook-AbCdEf"


def _notifying(setup: HealthySetup) -> None:
    """jitflow.yaml gains a webhook whose key is in Secrets Manager; the stack was not told."""
    setup.put_file("jitflow.yaml", (ROOT / "jitflow.yaml").read_text() + (
        "notifications:\n  targets:\n    - {type: webhook, url: 'https://hooks.example.com', "
        f"secret_arn: '{NOTIFY_SECRET}'}}\n"))


def _inline_policy(setup: HealthySetup) -> None:
    document = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    setup.iam.put_role_policy(RoleName="jitflow-apply", PolicyName="extra",
                              PolicyDocument=json.dumps(document))


def _identity_outside(setup: HealthySetup) -> None:
    text = (ROOT / "policies" / "identities.yaml").read_text()
    setup.put_file("policies/identities.yaml",
                   text + f"frank:\n  - arn:aws:iam::{ACCOUNT}:role/finance-admin\n")


def _unpinned_caller(setup: HealthySetup) -> None:
    uses = f"jitflow/jitflow/{WORKFLOWS_DIR}/{REUSABLE['apply']}@v1"
    setup.put_file(f"{WORKFLOWS_DIR}/{CALLERS['apply']}", caller_text("apply", uses))


def _settings_branch(setup: HealthySetup) -> None:
    text = (ROOT / "jitflow.yaml").read_text()
    setup.put_file("jitflow.yaml", text.replace("default_branch: main", "default_branch: trunk"))


def _no_force_push_rule(setup: HealthySetup) -> None:
    setup.audit_rules.rules[:] = [{"type": "deletion"}]


def _secret_team(setup: HealthySetup) -> None:
    setup.fake.teams[("acme", "ml-leads")].privacy = "secret"


MUTATIONS: list[Any] = [
    pytest.param(lambda s: s.put_file("policies/broken.yaml", "description: [unclosed\n"),
                 {"policies"}, "do not load: policies/broken.yaml", id="policies-broken"),
    pytest.param(lambda s: s.fake.set_variable(REGION_VARIABLE, "eu-west-1"), {"settings"},
                 "region is 'us-east-1', but JITFLOW_AWS_REGION is 'eu-west-1'",
                 id="settings-region"),
    pytest.param(_settings_branch, {"settings"},
                 "default_branch is 'trunk', but GitHub's is 'main'", id="settings-branch"),
    pytest.param(lambda s: s.main_rules.bypass_actors.append(
        {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}),
        {"default-branch-rules"}, "lets RepositoryRole 5 (always) bypass it",
        id="default-branch-bypass"),
    pytest.param(lambda s: _status_check(s, {"context": REQUIRED_CHECK}), {"required-check"},
                 "from any source: pin it to GitHub Actions", id="required-check-any-source"),
    pytest.param(lambda s: _status_check(s, {"context": "ci", "integration_id": 15368}),
                 {"required-check"}, "is not required on main", id="required-check-missing"),
    pytest.param(lambda s: _review(s, "require_code_owner_review"), {"code-owner-review"},
                 "main does not require a review from the code owners", id="code-owner-review"),
    pytest.param(lambda s: _review(s, "dismiss_stale_reviews_on_push"), {"stale-reviews"},
                 "main keeps approvals when new commits are pushed", id="stale-reviews"),
    pytest.param(lambda s: _review(s, "require_last_push_approval"), {"last-push-approval"},
                 "does not require approval of the most recent push", id="last-push-approval"),
    pytest.param(lambda s: s.repo.environments.clear(), {"apply-environment"},
                 "jitflow-apply does not exist", id="environment-missing"),
    pytest.param(lambda s: _environment(s, "all", []), {"apply-environment"},
                 "admits every branch", id="environment-any-branch"),
    pytest.param(lambda s: _environment(s, "protected", []), {"apply-environment"},
                 "admits every protected branch", id="environment-protected-branches"),
    pytest.param(lambda s: _environment(s, "custom", [("main*", "branch")]), {"apply-environment"},
                 "admits branch 'main*'", id="environment-pattern"),
    pytest.param(lambda s: s.fake.set_oidc_customization({"use_default": True}), {"oidc-subject"},
                 "customisation is {'use_default': True, 'include_claim_keys': None}",
                 id="oidc-default"),
    pytest.param(lambda s: s.fake.set_oidc_customization(
        {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}),
        {"oidc-subject"}, "not {'use_default': False", id="oidc-other-claims"),
    pytest.param(lambda s: s.fake.set_variable("JITFLOW_TEAMS_TOKEN_SECRET", None), {"variables"},
                 "missing or empty: JITFLOW_TEAMS_TOKEN_SECRET", id="variable-missing"),
    pytest.param(lambda s: s.fake.add_secret("JITFLOW_PUSH_TOKEN"), {"secrets"},
                 "still there: JITFLOW_PUSH_TOKEN", id="old-secret"),
    pytest.param(lambda s: _policy_with_team(s, "@acme/data-platfrom"), {"team"},
                 "team @acme/data-platfrom does not exist", id="team-missing"),
    pytest.param(_secret_team, {"team"}, "team @acme/ml-leads is secret", id="team-secret"),
    pytest.param(lambda s: s.fake.grant_team("acme", "security", None), {"team"},
                 "team @acme/security has no access to acme/access", id="team-no-access"),
    pytest.param(lambda s: s.fake.grant_team("acme", "data-platform", "triage"), {"team"},
                 "team @acme/data-platform has triage access", id="team-read-only"),
    pytest.param(_no_force_push_rule, {"audit-branch"},
                 "no rule forbids force pushes on the audit branch jitflow-audit",
                 id="audit-force-push"),
    pytest.param(lambda s: s.audit_rules.bypass_actors.append(
        {"actor_id": 9, "actor_type": "Integration", "bypass_mode": "always"}), {"audit-branch"},
        "jitflow-audit can be rewritten or deleted", id="audit-bypass"),
    pytest.param(lambda s: s.fake.set_variable(ROLE_VARIABLES["revoke"], role_arn("revok")),
                 {"role", "role-trust", "role-permissions"},
                 f"the revoke role {role_arn('revok')} does not exist", id="role-missing"),
    pytest.param(lambda s: s.fake.set_variable(ROLE_VARIABLES["revoke"],
                                               role_arn("revoke").replace("/jitflow/", "/")),
                 {"role"}, "but the role is arn:aws:iam::111122223333:role/jitflow/jitflow-revoke",
                 id="role-other-path"),
    pytest.param(_loose_subject, {"role-trust"}, "StringEquals subject is StringLike",
                 id="trust-stringlike"),
    pytest.param(_second_trust_statement, {"role-trust"}, "not GitHub's OIDC provider alone",
                 id="trust-second-statement"),
    pytest.param(lambda s: s.set_trust("revoke", trust_policy(s.subject("apply"))), {"role-trust"},
                 "not exactly 'repository_owner_id:", id="trust-other-duty"),
    pytest.param(_unpinned_caller, {"role-trust"}, "pin the reusable workflow to a full commit SHA",
                 id="trust-unpinned-caller"),
    pytest.param(_inline_policy, {"role-permissions"}, "inline policy 'extra'", id="inline-policy"),
    pytest.param(_extra_policy, {"role-permissions"}, "allows iam:* on *", id="extra-policy"),
    pytest.param(_notifying, {"notifications"},
                 f"secretsmanager:GetSecretValue on {NOTIFY_SECRET}", id="notification-secret"),
    pytest.param(_identity_outside, {"identities"},
                 f"arn:aws:iam::{ACCOUNT}:role/finance-admin (frank)", id="identity-outside"),
]


@pytest.mark.parametrize(("change", "items", "text"), MUTATIONS)
def test_one_wrong_thing_is_one_wrong_item(
    healthy_setup: HealthySetup, capsys: pytest.CaptureFixture[str],
    change: Callable[[HealthySetup], None], items: set[str], text: str,
) -> None:
    change(healthy_setup)
    run = doctor(capsys)
    assert run.code == 1, run.out + run.err
    assert {item for item, _message in run.wrong} == items, run.out
    assert any(text in message for _item, message in run.wrong), run.out
    assert run.out.rstrip().endswith("wrong")


def test_json_lists_each_wrong_item_with_its_link(healthy_setup: HealthySetup,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    healthy_setup.fake.add_secret("JITFLOW_TEAMS_TOKEN")
    run = doctor(capsys, "--format", "json")
    assert run.code == 1
    data = json.loads(run.out)
    assert data["ok"] is False
    [wrong] = [f for f in data["findings"] if not f["ok"]]
    assert wrong["item"] == "secrets"
    assert wrong["link"] == f"{SETUP_GUIDE}#{ANCHORS['secrets']}"


# -- other shapes of a sound setup ------------------------------------------------------------


def test_classic_branch_protection_does_as_well_as_a_ruleset(
    healthy_setup: HealthySetup, capsys: pytest.CaptureFixture[str],
) -> None:
    healthy_setup.main_rules.rules[:] = [{"type": "deletion"}]
    protection = FakeProtection(required_checks=[(REQUIRED_CHECK, 15368)],
                                pull_request_reviews=True, dismiss_stale_reviews=True,
                                require_code_owner_reviews=True, require_last_push_approval=True,
                                enforce_admins=True)
    healthy_setup.fake.protect_branch("main", protection)
    assert doctor(capsys).code == 0
    protection.enforce_admins = False
    protection.bypass_users.append("mallory")
    run = doctor(capsys)
    assert run.code == 1
    [(item, message)] = run.wrong
    assert item == "default-branch-rules"
    assert "lets administrators bypass it" in message
    assert "lets user mallory skip its pull request rules" in message


def test_a_caller_of_the_access_repositorys_own_reusable_workflow(
    healthy_setup: HealthySetup, capsys: pytest.CaptureFixture[str],
) -> None:
    for duty in ROLE_VARIABLES:
        local = f"./{WORKFLOWS_DIR}/{REUSABLE[duty]}"
        healthy_setup.put_file(f"{WORKFLOWS_DIR}/{CALLERS[duty]}", caller_text(duty, local))
    run = doctor(capsys)
    assert {item for item, _message in run.wrong} == {"role-trust"}  # still the pinned subject
    for duty in ROLE_VARIABLES:
        own = healthy_setup.subject(duty, reusable_repository=None, reusable_ref=None)
        assert f"{REPOSITORY}/{WORKFLOWS_DIR}/{REUSABLE[duty]}@refs/heads/main" in own
        healthy_setup.set_trust(duty, trust_policy(own))
    assert doctor(capsys).code == 0


def test_a_role_trusting_another_provider_is_wrong(healthy_setup: HealthySetup,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    trust = trust_policy(healthy_setup.subject("apply"))
    trust["Statement"][0]["Principal"]["Federated"] = PROVIDER.replace("githubusercontent",
                                                                       "example")
    healthy_setup.set_trust("apply", trust)
    assert [item for item, _m in doctor(capsys).wrong] == ["role-trust"]


# -- how it is called, and when it cannot reach a service -------------------------------------


def test_repo_flag_names_the_repository(healthy_setup: HealthySetup,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY")
    assert doctor(capsys, "--repo", REPOSITORY).code == 0
    missing = doctor(capsys)
    assert missing.code == 2
    assert "--repo OWNER/REPO" in missing.err
    assert doctor(capsys, "--repo", "not a repository").code == 2


def test_without_a_token_it_says_which(healthy_setup: HealthySetup,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    run = doctor(capsys)
    assert run.code == 2
    assert "set GITHUB_TOKEN" in run.err


def test_settings_that_cannot_be_read_are_named(healthy_setup: HealthySetup,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    healthy_setup.repo.files["main"].pop("jitflow.yaml")
    run = doctor(capsys)
    assert run.code == 1
    assert "acme/access, branch main: jitflow.yaml not found" in run.err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.fake_github_unknown_paths
def test_github_out_of_reach_is_exit_3(healthy_setup: HealthySetup,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{_closed_port()}")
    run = doctor(capsys)
    assert run.code == 3
    assert run.out == ""
    assert "jitflow: error: GitHub: reading acme/access failed: cannot reach" in run.err


def test_aws_out_of_reach_is_exit_3(healthy_setup: HealthySetup,
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    run = doctor(capsys)
    assert run.code == 3
    assert run.out == ""
    assert "jitflow: error: AWS sts:GetCallerIdentity failed: Could not connect" in run.err


def break_glass_log(*dues: datetime) -> str:
    """An audit log with one break-glass grant per deadline in `dues` (none reviewed)."""
    lines, prev = [], None
    for n, due in enumerate(dues, 1):
        prev = chain.next_record(prev, at=due - timedelta(days=1), event="granted", details={
            "request": f"analytics-raw/alice-{n}", "requester": "alice", "pr": n,
            "break_glass": {"merged_by": "alice", "review_due": iso(due),
                            "reviewers": ["sam"]}})
        lines.append(chain.dumps(prev))
    return "\n".join(lines) + "\n"


def test_an_overdue_break_glass_review_is_listed(healthy_setup: HealthySetup,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    month = f"audit/{now:%Y-%m}.jsonl"
    healthy_setup.fake.put_file(month, break_glass_log(now + timedelta(hours=2)),
                                branch="jitflow-audit")
    run = doctor(capsys)
    assert run.code == 0, run.out
    assert "✔ no break-glass review is overdue (1 due later)" in run.out

    healthy_setup.fake.put_file(month, break_glass_log(now + timedelta(hours=2),
                                                       now - timedelta(hours=1)),
                                branch="jitflow-audit")
    run = doctor(capsys)
    assert run.code == 1
    [(item, message)] = run.wrong
    assert item == "break-glass"
    assert "analytics-raw/alice-2 (pull request #2): review OVERDUE" in message
    assert "alice-1" not in message


def test_notification_targets_the_hub_stack_allows_are_good(
        healthy_setup: HealthySetup, capsys: pytest.CaptureFixture[str]) -> None:
    _notifying(healthy_setup)
    arn = healthy_setup.iam.create_policy(
        PolicyName="jitflow-hub-permissions", Path="/jitflow-bootstrap/",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadTheNotificationSecrets", "Effect": "Allow",
             "Action": "secretsmanager:GetSecretValue", "Resource": [NOTIFY_SECRET]}]}),
    )["Policy"]["Arn"]
    healthy_setup.iam.attach_role_policy(RoleName="jitflow-apply", PolicyArn=arn)
    run = doctor(capsys)
    assert [(item, "revoke role" in message) for item, message in run.wrong] == [
        ("notifications", True)]  # the apply role may read it now; the revoke role may not
    healthy_setup.iam.attach_role_policy(RoleName="jitflow-revoke", PolicyArn=arn)
    run = doctor(capsys)
    assert run.code == 0 and run.wrong == [], run.out
    assert "notification targets name (1)" in run.out
