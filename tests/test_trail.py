"""`jitflow audit trail`: a grant's window from the audit log, the CloudTrail events its own
identity made in it, the adapter's LookupEvents calls, and the command.

What moto does not model: moto 5.2.5 implements CloudTrail's trails (Create/Get/Describe/
List/Update/DeleteTrail, GetTrailStatus, Start/StopLogging), event and insight selectors and
tags, but not LookupEvents: `lookup_events` raises NotImplementedError ("has not been
implemented"; its IMPLEMENTATION_COVERAGE.md leaves it unchecked on the main branch of
2026-08 too), and moto records no API call as a CloudTrail event, so there is no event
history to read and no trail log delivered to S3. `test_moto_does_not_model_lookup_events`
pins that, so this docstring is told when it changes.

Therefore, honestly labelled:
- the filtering and joining (which events are the grant's) are tested in the pure core
  (`jitflow.trail`) over events of the shape CloudTrail documents, built by hand in
  `testing/cloudtrail.py`;
- the adapter's calls (arguments, pagination, error mapping) and the command end to end are
  tested with botocore's Stubber answering LookupEvents (STS through moto's `mock_aws`): it
  checks the parameters against CloudTrail's API model, not CloudTrail's answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from jitflow.audit.store import AuditLog
from jitflow.aws import Accounts, EventHistory
from jitflow.cli import main
from jitflow.errors import AwsError, UsageError
from jitflow.model import Settings
from jitflow.trail import LookedUp, Who, as_json, render_text, trail_of, window_of
from testing.cloudtrail import StubbedHistory, assumed_role, iam_user, lookup_event
from testing.moto_server import instrument_clients

ACCOUNT = "123456789012"  # moto's default account
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EXPIRY = T0 + timedelta(hours=2)
SHARED = f"arn:aws:iam::{ACCOUNT}:role/data-engineers"
ROLE_ID, OTHER_ROLE_ID = "AROAEXAMPLESHARED001", "AROAEXAMPLEREADONLY1"
ALICE = "alice@acme.example"
REQUEST = "analytics-raw/alice-backfill"


def granted(**changes: Any) -> dict[str, Any]:
    """The details of a bucket-policy grant of alice's session."""
    return {"request": REQUEST, "requester": "alice", "principal": SHARED, "account": ACCOUNT,
            "expiry": EXPIRY, "approvers": ["erin"], "pr": 7, "commit": "c" * 40,
            "grant_mode": "bucket-policy", "session": ALICE, "role_id": ROLE_ID, **changes}


def records(*events: tuple[str, datetime, dict[str, Any]], tmp: Path) -> list[dict[str, Any]]:
    """Append to a real audit log, read back as the command reads it (verified)."""
    log = AuditLog(tmp / "audit")
    for event, at, details in events:
        log.append(event, details, at)
    assert log.verify() == []
    return list(log.records())


# --- the window, from the audit log ---------------------------------------------------------


def test_a_grant_that_expired_spans_its_grant_to_its_expiry(tmp_path: Path) -> None:
    found = records(("granted", T0, granted()),
                    ("expired", EXPIRY + timedelta(minutes=9), granted()), tmp=tmp_path)
    window = window_of(REQUEST, found, EXPIRY + timedelta(days=1))
    assert (window.start, window.end, window.ended_by) == (T0, EXPIRY, "expired")
    assert window.who == Who(ACCOUNT, SHARED, ALICE, ROLE_ID)
    assert window.who.userid == f"{ROLE_ID}:{ALICE}"


def test_an_early_revoke_ends_the_window_at_the_revoke(tmp_path: Path) -> None:
    revoked = T0 + timedelta(minutes=40)
    found = records(("granted", T0, granted()), ("early_revoked", revoked, granted()),
                    tmp=tmp_path)
    window = window_of(REQUEST, found, EXPIRY + timedelta(days=1))
    assert (window.end, window.ended_by) == (revoked, "early_revoked")


def test_an_open_grant_runs_until_now(tmp_path: Path) -> None:
    now = T0 + timedelta(minutes=30)
    window = window_of(REQUEST, records(("granted", T0, granted()), tmp=tmp_path), now)
    assert (window.end, window.open) == (now, True)


def test_a_scheduled_grant_starts_at_its_start(tmp_path: Path) -> None:
    start = T0 + timedelta(days=1)
    found = records(("granted", T0, granted(starts=start, expiry=start + timedelta(hours=2))),
                    tmp=tmp_path)
    window = window_of(REQUEST, found, start + timedelta(days=1))
    assert (window.start, window.end) == (start, start + timedelta(hours=2))


def test_an_identity_grant_reaches_the_whole_principal(tmp_path: Path) -> None:
    found = records(("granted", T0, granted(grant_mode=None, session=None, role_id=None,
                                            policy_arn="arn:p")), tmp=tmp_path)
    window = window_of(REQUEST, found, EXPIRY)
    assert (window.grant_mode, window.who) == ("identity-policy", Who(ACCOUNT, SHARED))


def test_a_request_never_granted_names_what_the_log_has(tmp_path: Path) -> None:
    found = records(("rejected", T0, {"request": REQUEST, "reason": "no approvals"}),
                    tmp=tmp_path)
    with pytest.raises(UsageError, match=r"no grant of .*alice-backfill \(its records: "
                                         r"rejected\)"):
        window_of(REQUEST, found, T0)
    with pytest.raises(UsageError, match=r"no grant of x/y$"):
        window_of("x/y", found, T0)


# --- whose events they are ------------------------------------------------------------------

SESSION = Who(ACCOUNT, SHARED, ALICE, ROLE_ID)
WHOLE_ROLE = Who(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/team/alice-data")
USER = Who(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/etl")


@pytest.mark.parametrize(("who", "identity", "made"), [
    (SESSION, assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE), True),
    # The same person's session name on another role (another permission set): not the grant.
    (SESSION, assumed_role(ACCOUNT, "AWSReservedSSO_ReadOnly_0123456789abcdef", OTHER_ROLE_ID,
                           ALICE, path="/aws-reserved/sso.amazonaws.com/"), False),
    (SESSION, assumed_role(ACCOUNT, "data-engineers", ROLE_ID, "bob@acme.example"), False),
    (SESSION, iam_user(ACCOUNT, ALICE), False),  # a user named like the session
    # A role deleted and made again under the same name has another RoleId.
    (SESSION, assumed_role(ACCOUNT, "data-engineers", "AROAEXAMPLERECREATED", ALICE), False),
    (WHOLE_ROLE, assumed_role(ACCOUNT, "alice-data", "AROAEXAMPLEALICE0001", "any", path="/team/"),
     True),
    (WHOLE_ROLE, assumed_role(ACCOUNT, "alice-data-old", "AROAEXAMPLEOLD000001", "x"), False),
    (WHOLE_ROLE, assumed_role("444455556666", "alice-data", "AROAEXAMPLEELSE00001", "x"), False),
    (WHOLE_ROLE, iam_user(ACCOUNT, "alice-data"), False),
    (USER, iam_user(ACCOUNT, "etl"), True),
    (USER, iam_user("444455556666", "etl"), False),
    (USER, assumed_role(ACCOUNT, "etl", "AROAEXAMPLEETL000001", "etl"), False),
])
def test_only_the_grants_own_identity_counts(who: Who, identity: dict[str, Any],
                                             made: bool) -> None:
    assert who.made(identity) is made


def test_a_session_without_a_recorded_role_id_is_matched_by_its_session_arn() -> None:
    who = Who(ACCOUNT, SHARED, ALICE)
    assert who.made(assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE))
    assert not who.made(assumed_role(ACCOUNT, "data-engineers", ROLE_ID, "bob@acme.example"))
    assert not Who(ACCOUNT, "permission-set/DataEngineer", ALICE).made(
        assumed_role(ACCOUNT, "AWSReservedSSO_DataEngineer_0123456789abcdef", ROLE_ID, ALICE))


def test_the_look_up_asks_for_the_narrowest_attribute() -> None:
    assert SESSION.lookup_attribute() == ("Username", ALICE)
    assert USER.lookup_attribute() == ("Username", "etl")
    assert WHOLE_ROLE.lookup_attribute() == ("EventSource", "s3.amazonaws.com")


# --- the trail: join, notes, output -----------------------------------------------------------


def looked(entry: dict[str, Any], region: str = "us-east-1") -> LookedUp:
    """What EventHistory makes of one LookupEvents entry (tested below on its own)."""
    return LookedUp(entry["EventId"], entry["EventTime"], entry["EventName"],
                    entry["EventSource"], entry["Username"],
                    tuple(r["ResourceName"] for r in entry["Resources"]),
                    entry["CloudTrailEvent"], region)


def _window(tmp_path: Path) -> Any:
    found = records(("granted", T0, granted()),
                    ("early_revoked", T0 + timedelta(hours=1), granted()), tmp=tmp_path)
    return window_of(REQUEST, found, T0 + timedelta(days=1))


def test_the_trail_keeps_the_grants_identity_inside_its_window(tmp_path: Path) -> None:
    window = _window(tmp_path)
    alice = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE)
    elsewhere = assumed_role(ACCOUNT, "AWSReservedSSO_ReadOnly_0123456789abcdef",
                             OTHER_ROLE_ID, ALICE, path="/aws-reserved/sso.amazonaws.com/")
    entries = [
        lookup_event(alice, T0 + timedelta(minutes=20), "PutBucketTagging"),
        lookup_event(alice, T0 + timedelta(minutes=5), "GetBucketPolicy", error="AccessDenied"),
        lookup_event(elsewhere, T0 + timedelta(minutes=10), "PutBucketTagging"),
        lookup_event(alice, T0 - timedelta(seconds=1), "PutBucketTagging"),  # before the grant
        lookup_event(alice, T0 + timedelta(hours=1, seconds=1), "DeleteBucketTagging"),  # after
    ]
    trail = trail_of(window, ["us-east-1"], [looked(e) for e in entries], T0 + timedelta(days=1))
    assert [(e.looked_up.name, e.error) for e in trail.events] == [
        ("GetBucketPolicy", "AccessDenied"), ("PutBucketTagging", None)]
    assert trail.attribute == ("Username", ALICE)
    assert len(trail.notes) == 1 and "S3 data events" in trail.notes[0]


def test_the_trail_says_what_the_history_cannot_show(tmp_path: Path) -> None:
    window = _window(tmp_path)
    unreadable = {**lookup_event(iam_user(ACCOUNT, "x"), T0), "CloudTrailEvent": "{not json"}
    late = trail_of(window, ["us-east-1"], [looked(unreadable)], T0 + timedelta(days=100))
    assert any("keeps 90 days" in n for n in late.notes)
    assert any("1 event(s) had a CloudTrailEvent that is not JSON" in n for n in late.notes)
    fresh = trail_of(window, ["us-east-1"], [], T0 + timedelta(hours=1, minutes=5))
    assert any("may still arrive" in n for n in fresh.notes)


def test_text_and_json_output(tmp_path: Path) -> None:
    window = _window(tmp_path)
    alice = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE, source_identity="alice")
    entry = lookup_event(alice, T0 + timedelta(minutes=20), bucket="analytics-raw")
    trail = trail_of(window, ["us-east-1", "eu-west-1"], [looked(entry)], T0 + timedelta(days=1))
    text = render_text(trail).splitlines()
    assert text[:5] == [
        f"request   {REQUEST}  (bucket-policy, account {ACCOUNT})",
        f"caller    session {ALICE} of {SHARED} (aws:userid {ROLE_ID}:{ALICE})",
        "window    2026-11-28T09:00:00Z until 2026-11-28T10:00:00Z (early_revoked)",
        f"looked up Username={ALICE} in us-east-1, eu-west-1; kept: this caller only",
        "events    1"]
    assert text[5] == (
        "  2026-11-28T09:20:00Z  us-east-1  s3.amazonaws.com PutBucketTagging  analytics-raw  "
        f"by arn:aws:sts::{ACCOUNT}:assumed-role/data-engineers/{ALICE}  source identity alice")
    shown = as_json(trail)
    assert shown["window"] == {"start": "2026-11-28T09:00:00Z", "end": "2026-11-28T10:00:00Z",
                               "ended_by": "early_revoked", "open": False}
    assert shown["userid"] == f"{ROLE_ID}:{ALICE}"
    assert shown["events"][0]["cloudtrail_event"]["userIdentity"] == alice
    assert json.loads(json.dumps(shown)) == shown


def test_text_from_cloudtrail_cannot_forge_a_line(tmp_path: Path) -> None:
    window = _window(tmp_path)
    entry = lookup_event(assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE),
                         T0 + timedelta(minutes=1), bucket="b\n  2026-01-01T00:00:00Z forged")
    text = render_text(trail_of(window, ["us-east-1"], [looked(entry)], T0 + timedelta(days=1)))
    assert "forged" in text and not any(line.startswith("  2026-01-01") for line in
                                        text.splitlines())


# --- the adapter: LookupEvents through botocore's paginator ---------------------------------

START, END = T0, EXPIRY
EXPECTED = {"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": ALICE}],
            "StartTime": START, "EndTime": END, "MaxResults": 50}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_MAX_ATTEMPTS",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def _history(stub: StubbedHistory, region: str = "us-east-1") -> EventHistory:
    client = boto3.client("cloudtrail", region_name=region)
    stub.attach(client)
    return EventHistory(client, region)


def _page(count: int, offset: int = 0) -> list[dict[str, Any]]:
    alice = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE)
    return [lookup_event(alice, T0 + timedelta(minutes=offset + i), event_id=f"e{offset + i}")
            for i in range(count)]


def test_the_adapter_reads_every_page_with_the_same_arguments(aws_env: None) -> None:
    stub = StubbedHistory({"us-east-1": [_page(50), _page(50, 50), _page(3, 100)]}, EXPECTED)
    found = _history(stub).lookup(("Username", ALICE), START, END)
    stub.all_used()
    assert [e.event_id for e in found] == [f"e{i}" for i in range(103)]
    first = found[0]
    assert (first.time, first.name, first.source, first.username, first.resources,
            first.region) == (T0, "PutBucketTagging", "s3.amazonaws.com", ALICE,
                              ("analytics-raw",), "us-east-1")
    assert json.loads(first.cloudtrail_event)["eventID"] == "e0"


def test_an_aws_failure_is_an_aws_error(aws_env: None) -> None:
    stub = StubbedHistory({}, EXPECTED, error="AccessDeniedException")
    with pytest.raises(AwsError, match="cloudtrail:LookupEvents failed: AccessDeniedException"):
        _history(stub).lookup(("Username", ALICE), START, END)


def test_an_unreadable_answer_is_an_aws_error_not_a_bug(aws_env: None) -> None:
    broken = [{k: v for k, v in e.items() if k != "CloudTrailEvent"} for e in _page(1)]
    stub = StubbedHistory({"us-east-1": [broken]}, EXPECTED)
    with pytest.raises(AwsError, match="cannot be read"):
        _history(stub).lookup(("Username", ALICE), START, END)


def test_the_event_history_client_retries_as_every_other_client(aws_env: None) -> None:
    settings = Settings(admins=("a",), accounts={ACCOUNT: None})
    accounts = Accounts(settings)
    history = accounts.event_history(ACCOUNT, "eu-west-1")
    assert history.region == "eu-west-1"
    assert history.client.meta.region_name == "eu-west-1"
    # botocore's standard mode, DEFAULT_MAX_ATTEMPTS retries after the first: as the IAM and
    # S3 clients (tests/test_engine.py checks theirs).
    assert history.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}


def test_moto_does_not_model_lookup_events(aws_env: None) -> None:
    """Why the tests above use a Stubber: when this fails, moto has learnt LookupEvents and
    these tests (and the module docstring, and docs/setup.md) should use it."""
    client = boto3.client("cloudtrail", region_name="us-east-1")
    with pytest.raises(NotImplementedError, match="lookup_events"):
        client.lookup_events()


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jitflow.yaml").write_text(
        f'admins: ["@acme/security"]\naccounts:\n  "{ACCOUNT}": {{}}\nregion: us-east-1\n')
    (tmp_path / ".git").mkdir()  # the repository root jitflow looks for
    records(("granted", T0, granted()), ("expired", EXPIRY + timedelta(minutes=5), granted()),
            tmp=tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(stub: StubbedHistory, *args: str) -> int:
    with instrument_clients(stub):
        return main(["audit", "trail", REQUEST, "--at", "2026-11-29T09:00:00Z", *args])


def test_the_command_lists_the_grants_events(repo: Path, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    alice = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE)
    bob = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, "bob@acme.example")
    pages = [[lookup_event(alice, T0 + timedelta(minutes=3), "PutBucketTagging")],
             [lookup_event(bob, T0 + timedelta(minutes=4), "PutBucketTagging")]]
    expected = {**EXPECTED, "StartTime": T0, "EndTime": EXPIRY}
    stub = StubbedHistory({"us-east-1": pages}, expected)
    assert _run(stub) == 0
    stub.all_used()
    out = capsys.readouterr().out
    assert "window    2026-11-28T09:00:00Z until 2026-11-28T11:00:00Z (expired)" in out
    assert "events    1" in out and f"assumed-role/data-engineers/{ALICE}" in out
    assert "bob@" not in out


def test_the_command_looks_in_every_region_asked_and_prints_json(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = assumed_role(ACCOUNT, "data-engineers", ROLE_ID, ALICE)
    stub = StubbedHistory({
        "us-east-1": [[lookup_event(alice, T0 + timedelta(minutes=9), "PutBucketTagging")]],
        "eu-west-1": [[lookup_event(alice, T0 + timedelta(minutes=2), "PutBucketAcl",
                                    region="eu-west-1")]]}, EXPECTED)
    assert _run(stub, "--region", "us-east-1", "--region", "eu-west-1", "--format", "json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(e["region"], e["name"]) for e in shown["events"]] == [
        ("eu-west-1", "PutBucketAcl"), ("us-east-1", "PutBucketTagging")]
    assert shown["lookup"] == {"attribute": {"key": "Username", "value": ALICE},
                               "regions": ["us-east-1", "eu-west-1"]}


def test_the_command_exits_3_when_aws_fails(repo: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    assert _run(StubbedHistory({}, EXPECTED, error="ThrottlingException")) == 3
    assert "cloudtrail:LookupEvents failed: ThrottlingException" in capsys.readouterr().err


def test_the_command_refuses_a_request_never_granted(repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with instrument_clients(StubbedHistory({}, EXPECTED)):
        assert main(["audit", "trail", "analytics-raw/nothing"]) == 2
    assert "the audit log has no grant of analytics-raw/nothing" in capsys.readouterr().err


def test_audit_show_links_each_grant_to_its_trail(repo: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "show"]) == 0
    granted_line, expired_line = capsys.readouterr().out.splitlines()
    assert granted_line.endswith(f"trail: jitflow audit trail {REQUEST}")
    assert "audit trail" not in expired_line


def test_audit_show_prints_a_scheduled_grants_start(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    start = T0 + timedelta(days=1)
    records(("granted", T0, granted(starts=start, expiry=start + timedelta(hours=2))),
            tmp=tmp_path)
    assert main(["audit", "show", "--dir", str(tmp_path / "audit")]) == 0
    assert "from 2026-11-29T09:00:00Z  until 2026-11-29T11:00:00Z" in capsys.readouterr().out
