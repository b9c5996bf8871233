"""`jitflow doctor`'s checks as pure functions: facts in, findings out (no GitHub, no AWS).

The CLI tests (tests/test_cli_doctor.py) turn each item ✘ through the real services' stand-ins;
these pin the readings those cannot reach: every shape of an IAM statement the permission
check must refuse or accept, both bootstrap modes, caller workflow forms, hidden bypass lists,
and that every ✘ links to a section docs/setup.md really has.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest

from jitflow.doctor import aws_checks, repo_checks
from jitflow.doctor.facts import (
    AwsFacts,
    BranchRules,
    Environment,
    ManagedPolicy,
    Protection,
    RepositoryFacts,
    RoleState,
    Rule,
    Ruleset,
    TeamFacts,
)
from jitflow.doctor.findings import ANCHORS, SETUP_GUIDE, Finding, render_json, render_text
from jitflow.doctor.gather import team_handles
from jitflow.doctor.workflows import ReusableCall, reusable_call, subject_for
from jitflow.grants import RoleFacts
from jitflow.model import Identities, Identity, NotificationTarget, PolicySet
from testing.builders import make_policy
from testing.doctor_setup import bucket_permissions, trust_policy
from testing.foundation import ROOT

ACCOUNT = "111122223333"
POLICY = f"arn:aws:iam::{ACCOUNT}:policy/jitflow-bootstrap/permissions"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-apply"
JITFLOW_POLICIES = f"arn:aws:iam::{ACCOUNT}:policy/jitflow/*"
SHA = "a" * 40


def state(*documents: dict[str, Any], inline: tuple[str, ...] = (),
          trust: dict[str, Any] | None = None, arns: tuple[str, ...] = ()) -> RoleState:
    attached = tuple(ManagedPolicy(arns[i] if i < len(arns) else POLICY, document)
                     for i, document in enumerate(documents))
    role = RoleFacts("jitflow-apply", ROLE, "AROAEXAMPLE", trust or {})
    return RoleState("apply", ROLE, role, inline, attached)


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def permissions(*documents: dict[str, Any], **options: Any) -> Finding:
    return aws_checks.role_permissions(state(*documents, **options), ACCOUNT)


# -- what the bootstrap gives passes ----------------------------------------------------------


def identity_mode_apply() -> dict[str, Any]:
    """bootstrap/'s ApplyPermissions (identity-policy mode), as deployed."""
    principals = [f"arn:aws:iam::{ACCOUNT}:role/data-*"]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Resource": JITFLOW_POLICIES, "Action": [
            "iam:CreatePolicy", "iam:DeletePolicy", "iam:TagPolicy", "iam:GetPolicy",
            "iam:GetPolicyVersion", "iam:ListPolicyTags", "iam:ListPolicyVersions",
            "iam:DeletePolicyVersion", "iam:ListEntitiesForPolicy"]},
        {"Effect": "Allow", "Resource": principals,
         "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:AttachUserPolicy",
                    "iam:DetachUserPolicy"],
         "Condition": {"ArnLike": {"iam:PolicyARN": JITFLOW_POLICIES}}},
        {"Effect": "Allow", "Resource": principals,
         "Action": ["iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies"]},
        {"Effect": "Allow", "Action": "iam:ListPolicies", "Resource": "*"},
        {"Effect": "Deny", "Action": ["iam:AttachRolePolicy", "iam:PutRolePolicy"],
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/jitflow/*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:jitflow/push"},
    ]}


def identity_mode_revoke() -> dict[str, Any]:
    """bootstrap/'s RevokePermissions: detach a /jitflow/ policy from anyone."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:ListPolicies", "Resource": "*"},
        {"Effect": "Allow", "Resource": JITFLOW_POLICIES,
         "Action": ["iam:GetPolicy", "iam:DeletePolicyVersion", "iam:DeletePolicy"]},
        {"Effect": "Allow", "Condition": {"ArnLike": {"iam:PolicyARN": JITFLOW_POLICIES}},
         "Action": ["iam:DetachRolePolicy", "iam:DetachUserPolicy", "iam:DetachGroupPolicy"],
         "Resource": [f"arn:aws:iam::{ACCOUNT}:role/*", f"arn:aws:iam::{ACCOUNT}:user/*",
                      f"arn:aws:iam::{ACCOUNT}:group/*"]},
    ]}


@pytest.mark.parametrize("document", [bucket_permissions(), identity_mode_apply(),
                                      identity_mode_revoke()],
                         ids=["bucket-policy", "identity-apply", "identity-revoke"])
def test_what_the_bootstrap_gives_is_not_too_much(document: dict[str, Any]) -> None:
    assert permissions(document).ok


# -- and anything more is reported ------------------------------------------------------------


@pytest.mark.parametrize(("document", "reported"), [
    (allow("iam:*", "*"), "allows iam:* on *"),
    (allow("*", "*"), "allows * on *"),
    (allow("iam:PutRolePolicy", ROLE), "allows iam:PutRolePolicy on"),
    (allow("iam:Create*", f"arn:aws:iam::{ACCOUNT}:policy/other/*"), "allows iam:Create*"),
    (allow("iam:CreatePolicy", "arn:aws:iam::999999999999:policy/jitflow/*"),
     "allows iam:CreatePolicy"),  # another account's /jitflow/ is not this one's
    (allow("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/*"),
     "allows iam:AttachRolePolicy"),  # no iam:PolicyARN pin: any policy, AdministratorAccess
    (allow("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/*",
           Condition={"ArnLike": {"iam:PolicyARN": "arn:aws:iam::aws:policy/*"}}),
     "allows iam:AttachRolePolicy"),
    (allow("sts:AssumeRole", "*"), "allows sts:AssumeRole on *"),
    (allow("sts:*", f"arn:aws:iam::{ACCOUNT}:role/admin"), "allows sts:* on"),
    (allow("sts:AssumeRole", "arn:aws:iam::444455556666:role/jitflow*"), "sts:AssumeRole"),
    ({"Statement": [{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}]},
     "uses NotAction or NotResource"),
    ({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "x"}},
     "uses NotAction or NotResource"),
])
def test_more_than_the_bootstrap_gives_is_reported(document: dict[str, Any],
                                                   reported: str) -> None:
    finding = permissions(document)
    assert not finding.ok
    assert reported in finding.message


def test_reads_assume_of_jitflow_roles_and_other_services_pass() -> None:
    assert permissions(allow(["iam:Get*", "iam:ListRoles", "s3:GetObject"], "*")).ok
    assert permissions(allow("sts:AssumeRole",
                             "arn:aws:iam::444455556666:role/jitflow/jitflow-grant")).ok
    denied = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert permissions(denied).ok


def test_where_the_policies_come_from_is_checked() -> None:
    inline = permissions(bucket_permissions(), inline=("extra",))
    assert "inline policy 'extra'" in inline.message
    for arn in (f"arn:aws:iam::{ACCOUNT}:policy/admin",
                "arn:aws:iam::aws:policy/AdministratorAccess",
                "arn:aws:iam::999999999999:policy/jitflow-bootstrap/permissions"):
        finding = permissions(bucket_permissions(), arns=(arn,))
        assert not finding.ok
        assert f"{arn} is not a policy the bootstrap creates" in finding.message


def test_a_role_that_was_not_read_is_not_called_good() -> None:
    missing = RoleState("revoke", ROLE)
    assert not aws_checks.role_permissions(missing, ACCOUNT).ok
    assert not aws_checks.role_trust(missing, "x").ok
    assert not aws_checks.identities_within(missing, Identities()).ok
    assert "is not set" in aws_checks.role_found(RoleState("apply", None)).message
    unread = RoleState("apply", ROLE, unread="the AWS credentials are for account 1")
    assert "was not read: the AWS credentials" in aws_checks.role_found(unread).message


# -- trust ------------------------------------------------------------------------------------


SUBJECT = "repository_owner_id:1:repository_id:2:ref:refs/heads/main"


def exact_trust() -> dict[str, Any]:
    return trust_policy(apply_subject().render())


def apply_subject() -> Any:
    subject = subject_for(RepositoryFacts("acme/access", 1, 2, "main"),
                          b"jobs:\n  a:\n    uses: ./.github/workflows/reusable-apply.yml\n",
                          "apply")
    assert not isinstance(subject, str)
    return subject


def trust_of(document: dict[str, Any]) -> Finding:
    return aws_checks.role_trust(state(trust=document), apply_subject())


def test_the_exact_trust_passes() -> None:
    assert trust_of(exact_trust()).ok


@pytest.mark.parametrize(("change", "reported"), [
    (lambda s: s["Condition"]["StringEquals"].update(
        {"token.actions.githubusercontent.com:aud": "other"}), "audience is ['other']"),
    (lambda s: s["Condition"]["StringEquals"].pop("token.actions.githubusercontent.com:aud"),
     "audience is unset"),
    (lambda s: s["Condition"]["StringEquals"].update(
        {"token.actions.githubusercontent.com:sub": [SUBJECT, "repo:acme/access:*"]}),
     "subject is ["),
    (lambda s: s.update({"Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]}),
     "not sts:AssumeRoleWithWebIdentity alone"),
    (lambda s: s.update({"Principal": {"Federated": "x", "AWS": "*"}}),
     "not GitHub's OIDC provider alone"),
    (lambda s: s.pop("Condition"), "subject is unset"),
])
def test_a_looser_trust_is_reported(change: Any, reported: str) -> None:
    document = exact_trust()
    change(document["Statement"][0])
    finding = trust_of(document)
    assert not finding.ok
    assert reported in finding.message


def test_a_trust_allowing_nobody_or_an_unknown_subject_is_not_good() -> None:
    assert "allows nobody" in trust_of({"Statement": []}).message
    unknown = aws_checks.role_trust(state(trust=exact_trust()), "no caller workflow")
    assert not unknown.ok
    assert "the expected subject is unknown: no caller workflow" in unknown.message


# -- identities -------------------------------------------------------------------------------


def identities(*entries: tuple[str, str]) -> Identities:
    return Identities({login: (Identity(principal),) for login, principal in entries})


def test_identities_inside_the_allowed_principals() -> None:
    role = state(allow(["iam:GetRole"], [f"arn:aws:iam::{ACCOUNT}:role/data-?ngineers",
                                         f"arn:aws:iam::{ACCOUNT}:role/team/*"]))
    inside = identities(("alice", f"arn:aws:iam::{ACCOUNT}:role/data-engineers"),
                        ("bob", f"arn:aws:iam::{ACCOUNT}:role/team/a/b"),
                        ("carol", "arn:aws:iam::444455556666:role/elsewhere"))
    finding = aws_checks.identities_within(role, inside)
    assert finding.ok
    assert "the 2 identities in account" in finding.message
    assert "1 in other accounts not checked here" in finding.message
    sets = Identities({"dora": (Identity("permission-set/Data", "dora@x", ACCOUNT),)})
    assert aws_checks.identities_within(role, sets).ok  # found by iam:ListRoles, no resource


def test_identities_outside_or_on_jitflows_own_roles_are_reported() -> None:
    role = state(allow("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/*",
                       Condition={"ArnLike": {"iam:PolicyARN": JITFLOW_POLICIES}}))
    found = aws_checks.identities_within(role, identities(
        ("mallory", f"arn:aws:iam::{ACCOUNT}:role/jitflow/jitflow-apply"),
        ("erin", f"arn:aws:iam::{ACCOUNT}:user/erin")))
    assert not found.ok
    assert "jitflow/jitflow-apply (mallory)" in found.message
    assert "user/erin (erin)" in found.message  # a user needs AttachUserPolicy's resources


# -- caller workflows -------------------------------------------------------------------------


def caller(uses: str, jobs: int = 1) -> bytes:
    text = "on: push\njobs:\n" + "".join(f"  job{i}:\n    uses: {uses}\n" for i in range(jobs))
    return text.encode()


@pytest.mark.parametrize(("text", "expected"), [
    (caller(f"jitflow/jitflow/.github/workflows/reusable-apply.yml@{SHA}"),
     ReusableCall("jitflow/jitflow", SHA)),
    (caller("jitflow/jitflow/.github/workflows/reusable-apply.yml@refs/tags/v1"),
     ReusableCall("jitflow/jitflow", "refs/tags/v1")),
    (caller("./.github/workflows/reusable-apply.yml"), ReusableCall(None, None)),
    (caller("$/.github/workflows/reusable-apply.yml"), ReusableCall(None, None)),
])
def test_the_reusable_workflow_a_caller_calls(text: bytes, expected: ReusableCall) -> None:
    assert reusable_call(text, "apply") == expected


@pytest.mark.parametrize(("text", "reported"), [
    (None, "is not on the default branch"),
    (b"jobs: [unclosed\n", "cannot be read as YAML"),
    (b"\xff\xfe", "cannot be read as YAML"),
    (caller("jitflow/jitflow/.github/workflows/reusable-apply.yml@v1"),
     "pin the reusable workflow to a full commit SHA"),
    (caller(f"jitflow/jitflow/.github/workflows/reusable-apply.yml@{SHA}", jobs=2),
     "2 jobs calls reusable-apply.yml"),
    (caller(f"jitflow/jitflow/.github/workflows/reusable-revoke.yml@{SHA}"),
     "no job calls reusable-apply.yml"),
    (caller(f"jitflow/jitflow/.github/workflows/sub/reusable-apply.yml@{SHA}"), "calls '"),
    (b"name: no jobs\n", "no job calls"),
])
def test_a_caller_that_does_not_say_is_reported(text: bytes | None, reported: str) -> None:
    found = reusable_call(text, "apply")
    assert isinstance(found, str)
    assert reported in found
    assert ".github/workflows/jitflow-apply.yml" in found


# -- GitHub items ----------------------------------------------------------------------------


def test_a_bypass_list_the_token_cannot_see_is_not_nobody() -> None:
    rules = BranchRules("main", (Rule("deletion", {}, 7),), {7: Ruleset(7, "main", None)})
    finding = repo_checks.default_branch_rules(rules)
    assert not finding.ok
    assert "bypass list of ruleset 7 is not visible to this token" in finding.message
    assert not repo_checks.default_branch_rules(BranchRules("main")).ok
    assert not repo_checks.audit_branch(BranchRules("jitflow-audit", (Rule("deletion", {}, 7),
                                                                     Rule("non_fast_forward",
                                                                          {}, 7)))).ok


def test_the_audit_branch_may_be_held_by_classic_protection() -> None:
    held = BranchRules("jitflow-audit", protection=Protection(enforce_admins=True))
    assert repo_checks.audit_branch(held).ok
    loose = BranchRules("jitflow-audit", protection=Protection(enforce_admins=True,
                                                               allow_deletions=True))
    assert "no rule forbids deletion on" in repo_checks.audit_branch(loose).message
    admins = BranchRules("jitflow-audit", protection=Protection())
    assert "lets administrators bypass it" in repo_checks.audit_branch(admins).message


def test_an_environment_admitting_a_tag_too_is_wrong() -> None:
    environment = Environment("jitflow-apply", False, True, (("main", "branch"), ("main", "tag")))
    finding = repo_checks.apply_environment(environment, "main")
    assert not finding.ok
    assert "admits branch 'main', tag 'main'" in finding.message


def test_a_team_with_write_access_is_good_and_with_less_is_not() -> None:
    assert repo_checks.team(TeamFacts("@a/b", True, True, "admin"), "a/r").ok
    assert not repo_checks.team(TeamFacts("@a/b", True, True, "pull"), "a/r").ok


def test_teams_come_from_the_approvers_and_codeowners_once_each() -> None:
    policies = PolicySet({"p": make_policy(approvers=("@acme/Data", "erin", "@acme/data"))})
    codeowners = ("# @acme/commented\n* @acme/security  # @acme/trailing\n"
                  "/x/ @erin @acme/data   @acme/ml-leads\n")
    assert team_handles(policies, codeowners) == ["@acme/Data", "@acme/ml-leads",
                                                  "@acme/security"]


# -- results and their links ------------------------------------------------------------------


def github_slugs(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    slugs: set[str] = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6} +(.*?) *#*$", line)
        if not heading:
            continue
        text = re.sub(r"[`*]|<[^>]+>", "", heading.group(1)).strip().lower()
        slug = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
        slug = slug.replace(" ", "-")
        unique, n = slug, 0
        while unique in slugs:
            n += 1
            unique = f"{slug}-{n}"
        slugs.add(unique)
    return slugs


def test_every_link_goes_to_a_section_the_setup_guide_has() -> None:
    slugs = github_slugs((ROOT / SETUP_GUIDE).read_text(encoding="utf-8"))
    assert github_slugs("## 5. Protect the default branch (ruleset)\n## A `b`\n## A b\n") == {
        "5-protect-the-default-branch-ruleset", "a-b", "a-b-1"}
    missing = {item: anchor for item, anchor in ANCHORS.items() if anchor not in slugs}
    assert missing == {}


def test_links_into_the_setup_guide_resolve() -> None:
    """The README's and the docs' links to a section of the guide (the doctor's included)."""
    slugs = github_slugs((ROOT / SETUP_GUIDE).read_text(encoding="utf-8"))
    links = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        links += [(path.name, a) for a in re.findall(r"setup\.md#([A-Za-z0-9_-]+)", text)]
        if path.name == "setup.md":
            links += [(path.name, a) for a in re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text)]
    assert ("README.md", "9-check-your-setup-jitflow-doctor") in links
    assert [link for link in links if link[1] not in slugs] == []


def test_text_and_json_say_the_same() -> None:
    findings = [Finding("variables", True, "set"), Finding("secrets", False, "still there")]
    text = render_text(findings)
    assert text.splitlines() == ["✔ set",
                                 f"✘ still there (see {SETUP_GUIDE}#{ANCHORS['secrets']})",
                                 "jitflow doctor: 1 of 2 wrong"]
    assert render_json(findings).count('"link"') == 1


# -- notifications ----------------------------------------------------------------------------

SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:jitflow/hook-AbCdEf"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:jitflow"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/access-events"
TARGETS = (NotificationTarget(kind="webhook", url="https://h.example", secret_arn=SECRET),
           NotificationTarget(kind="sns", topic_arn=TOPIC),
           NotificationTarget(kind="eventbridge", event_bus="access-events"),  # a name
           NotificationTarget(kind="slack", url_env="SLACK_URL"))  # nothing in AWS


def hub_notifications() -> dict[str, Any]:
    """The three statements the hub stack gives both roles, as deployed."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadTheNotificationSecrets", "Effect": "Allow",
         "Action": "secretsmanager:GetSecretValue", "Resource": [SECRET]},
        {"Sid": "PublishNotificationsToTheTopics", "Effect": "Allow", "Action": "sns:Publish",
         "Resource": [TOPIC]},
        {"Sid": "PutNotificationEventsOnTheBuses", "Effect": "Allow",
         "Action": "events:PutEvents", "Resource": [BUS]}]}


def notified(*documents: dict[str, Any],
             targets: tuple[NotificationTarget, ...] = TARGETS) -> list[Finding]:
    facts = AwsFacts(ACCOUNT, (state(*documents),))
    return aws_checks.notification_findings(facts, targets, partition="aws", region="us-east-1")


def test_what_the_hub_stack_gives_reaches_every_notification_target() -> None:
    (finding,) = notified(bucket_permissions(), hub_notifications())
    assert finding.ok and finding.item == "notifications"
    assert "targets name (3)" in finding.message
    assert permissions(bucket_permissions(), hub_notifications()).ok  # and is not too much
    (wide,) = notified(allow(["sns:*", "events:Put*", "secretsmanager:Get*"], "*"))
    assert wide.ok


@pytest.mark.parametrize(("change", "reported"), [
    (lambda d: d["Statement"].pop(0), f"secretsmanager:GetSecretValue on {SECRET}"),
    (lambda d: d["Statement"][1].update(Resource=[TOPIC + "-other"]), f"sns:Publish on {TOPIC}"),
    (lambda d: d["Statement"][2].update(Resource=[BUS.replace("access", "other")]),
     f"events:PutEvents on {BUS}"),
    (lambda d: d["Statement"][1].update(Condition={"Bool": {"aws:SecureTransport": "true"}}),
     f"sns:Publish on {TOPIC}"),
    (lambda d: d["Statement"].append({"Effect": "Deny", "Action": "secretsmanager:*",
                                      "Resource": "*"}),
     f"secretsmanager:GetSecretValue on {SECRET}"),
])
def test_a_notification_target_a_role_may_not_reach_is_reported(change: Any,
                                                                 reported: str) -> None:
    document = hub_notifications()
    change(document)
    (finding,) = notified(document)
    assert not finding.ok
    assert reported in finding.message
    assert "Notification*Arns" in finding.message


def test_targets_needing_nothing_in_aws_are_one_good_line() -> None:
    (finding,) = notified(targets=(TARGETS[-1],))
    assert finding.ok and "no notification target names" in finding.message
    assert notified(targets=()) == [finding]
    unread = AwsFacts(ACCOUNT, (RoleState("revoke", ROLE),))
    (found,) = aws_checks.notification_findings(unread, TARGETS, partition="aws",
                                                region="us-east-1")
    assert not found.ok and "not checked" in found.message
