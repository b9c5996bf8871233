"""Lifecycle notifications: events from audit records, signed webhooks and Slack over real
HTTP to a local receiver, SNS and EventBridge through moto, their keys and URLs from the
environment or from AWS Secrets Manager (moto), and the outbox that retries."""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from jitflow.approvals import OpenPull
from jitflow.audit.record import AccessItem, AuditRecord
from jitflow.aws import mask_secret
from jitflow.clock import iso
from jitflow.model import NotificationTarget
from jitflow.notify import (
    KINDS,
    DeliveryFailed,
    Event,
    dispatch,
    expiring_soon,
    from_records,
    outbox,
    render,
)
from jitflow.notify.requested import poll, requests_asked
from jitflow.notify.transport import Transport
from jitflow.settings import read_settings
from testing.builders import ACCOUNT, T0
from testing.moto_server import MotoServer, create_user, enforcing
from testing.receiver import receiver

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "jitflow" / "schemas" /
                     "event.schema.json").read_text())
SECRET = "s3cret"
REPO = "https://github.com/acme/access"


def record(event: str, seq: int = 1, **overrides: Any) -> AuditRecord:
    base: dict[str, Any] = dict(
        seq=seq, time=iso(T0), event=event, request="data-fix/alice-1", requester="alice",
        principal=f"arn:aws:iam::{ACCOUNT}:role/alice", account=ACCOUNT,
        access=(AccessItem("b", "p/", ("s3:PutObject",)),), expiry=iso(T0 + timedelta(hours=2)),
        approvers=("erin",), pr=7, hash=f"h{seq}")
    return AuditRecord(**{**base, **overrides})


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(
        document)


def test_a_grant_announces_approval_then_grant_and_a_reconciled_record_nothing() -> None:
    events = from_records([record("granted"), record("granted", seq=2, reconciled=True)])
    assert [e.kind for e in events] == ["approved", "granted"]
    assert events[0].id != events[1].id
    assert from_records([record("granted")]) == events[:2]  # same record, same ids


@pytest.mark.parametrize(("event", "kind"), [
    ("expired", "expired"), ("early_revoked", "revoked_early"),
    ("orphan_revoked", "revoked_early"), ("rejected", "rejected")])
def test_each_ending_record_announces_its_event(event: str, kind: str) -> None:
    (only,) = from_records([record(event, reason="why")])
    assert only.kind == kind
    assert only.facts["reason"] == "why"


def test_expiring_soon_only_inside_the_lead_and_with_one_id_per_grant() -> None:
    grant = record("granted")  # ends at T0 + 2h
    lead = timedelta(hours=1)
    assert expiring_soon([grant], T0, lead) == []
    first = expiring_soon([grant], T0 + timedelta(minutes=70), lead)
    later = expiring_soon([grant], T0 + timedelta(minutes=100), lead)
    assert [e.kind for e in first] == ["expiring_soon"]
    assert first[0].id == later[0].id
    assert expiring_soon([grant], T0 + timedelta(hours=2), lead) == []  # already ended


def test_every_kind_renders_a_document_the_published_schema_accepts() -> None:
    for kind in KINDS:
        document = Event(kind, "0" * 32, iso(T0), "data-fix/alice-1", 7,
                         from_records([record("granted")])[1].facts).document(REPO)
        validate(document)
        assert document["pull_request"] == {"number": 7, "url": f"{REPO}/pull/7"}
    bad = Event("granted", "0" * 32, iso(T0), "x", None).document(None) | {"event": "hacked"}
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def webhook(url: str) -> NotificationTarget:
    return NotificationTarget(kind="webhook", url=url, secret_env="HOOK_SECRET")


def send_all(targets: list[NotificationTarget], events: list[Event],
             earlier: list[dict[str, Any]] | None = None,
             environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    transport = Transport(environ if environ is not None else {"HOOK_SECRET": SECRET,
                                                               "SLACK_URL": ""}, "us-east-1")
    return dispatch(targets, events, earlier or [], transport, time=iso(T0),
                    repository_url=REPO).lines


def test_a_webhook_receives_a_signed_document_that_matches_the_schema() -> None:
    events = from_records([record("granted")])
    with receiver(SECRET.encode()) as hook:  # checks the signature and the schema itself
        lines = send_all([webhook(hook.url)], events)
    assert [line["status"] for line in lines] == ["delivered", "delivered"]
    assert hook.refused == []
    got = hook.received[1]
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, sha256).hexdigest()
    assert got.headers[render.SIGNATURE_HEADER] == expected
    assert got.headers[render.EVENT_HEADER] == "granted"
    document = json.loads(got.body)
    validate(document)
    assert document["id"] == events[1].id == got.headers[render.DELIVERY_HEADER]
    assert document["access"] == [{"bucket": "b", "prefix": "p/", "actions": ["s3:PutObject"]}]


def test_a_signature_made_with_another_key_is_refused_by_the_receiver() -> None:
    with receiver(SECRET.encode()) as hook:
        [line] = send_all([webhook(hook.url)], from_records([record("expired")]),
                          environ={"HOOK_SECRET": "other"})
    assert (line["status"], line["error"], hook.refused) == (
        "failed", "HTTP 401 from the receiver", ["signature"])


def test_a_document_off_the_schema_is_refused_by_the_receiver() -> None:
    off = Event(kind="expired", id="x" * 32, time=iso(T0), request="data-fix/alice-1")
    with receiver(SECRET.encode()) as hook:
        [line] = send_all([webhook(hook.url)], [off])
    assert (line["status"], line["error"]) == ("failed", "HTTP 400 from the receiver")
    assert hook.refused[0].startswith("schema: ") and "does not match" in hook.refused[0]


def test_a_failed_delivery_is_recorded_and_retried_next_run_with_the_same_document() -> None:
    events = from_records([record("expired")])
    with receiver() as hook:
        hook.status = 503
        first = send_all([webhook(hook.url)], events)
        assert [line["status"] for line in first] == ["failed"]
        assert "HTTP 503" in first[0]["error"]
        hook.status = 200
        second = send_all([webhook(hook.url)], [], earlier=first)
    assert [line["status"] for line in second] == ["delivered"]
    assert hook.received[0].body == hook.received[1].body
    # settled: a third run sends nothing
    assert send_all([webhook(hook.url)], [], earlier=first + second) == []


def test_an_event_already_tried_is_not_sent_again_by_a_later_run() -> None:
    warn = expiring_soon([record("granted")], T0 + timedelta(minutes=70), timedelta(hours=1))
    with receiver() as hook:
        first = send_all([webhook(hook.url)], warn)
        second = send_all([webhook(hook.url)], warn, earlier=first)
    assert len(hook.received) == 1
    assert second == []


def test_a_delivery_gives_up_after_the_maximum_attempts_and_says_so() -> None:
    events = from_records([record("expired")])
    lines: list[dict[str, Any]] = []
    with receiver() as hook:
        hook.status = 500
        lines += send_all([webhook(hook.url)], events)
        for _ in range(outbox.MAX_ATTEMPTS):
            lines += send_all([webhook(hook.url)], [], earlier=lines)
    assert lines[-1]["status"] == "abandoned"
    assert len(hook.received) == outbox.MAX_ATTEMPTS


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_a_failure_not_a_resend_elsewhere(status: int) -> None:
    with receiver() as hook, receiver() as elsewhere:
        hook.status, hook.location = status, elsewhere.url
        lines = send_all([webhook(hook.url)], from_records([record("expired")]))
    assert lines[0]["status"] == "failed"
    assert elsewhere.received == []


def test_a_missing_secret_or_a_plain_http_url_fails_the_delivery_not_the_run() -> None:
    events = from_records([record("expired")])
    lines = send_all([webhook("http://127.0.0.1:9/hook")], events, environ={})
    assert "HOOK_SECRET is not set" in lines[0]["error"]
    lines = send_all([webhook("http://example.com/hook")], events)
    assert "not https" in lines[0]["error"]


def test_slack_gets_block_kit_with_the_pr_link_and_escaped_text() -> None:
    evil = record("rejected", reason="<https://evil.example|click> & more",
                  request="data-fix/<!channel>")
    target = NotificationTarget(kind="slack", url_env="SLACK_URL")
    with receiver() as slack:
        send_all([target], from_records([evil]), environ={"SLACK_URL": slack.url})
    message = json.loads(slack.received[0].body)
    kinds = [block["type"] for block in message["blocks"]]
    assert kinds == ["header", "section", "context"]
    assert message["blocks"][0]["text"]["text"] == "Request rejected"
    texts = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert "&lt;https://evil.example|click&gt; &amp; more" in texts
    assert message["text"] == "Request rejected: data-fix/&lt;!channel&gt;"  # no @channel
    assert f"<{REPO}/pull/7|pull request #7>" in message["blocks"][2]["elements"][0]["text"]


def test_a_target_only_gets_the_kinds_it_asked_for() -> None:
    with receiver() as hook:
        target = NotificationTarget(kind="webhook", url=hook.url, secret_env="HOOK_SECRET",
                                    events=("granted",))
        send_all([target], from_records([record("granted"), record("expired", seq=2)]))
    assert [r.headers[render.EVENT_HEADER] for r in hook.received] == ["granted"]


@mock_aws
def test_sns_and_eventbridge_deliver_the_document() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    sns = boto3.client("sns", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="jitflow")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="access")
    events.put_rule(Name="all", EventBusName="access", EventPattern='{"source": ["jitflow"]}')
    events.put_targets(Rule="all", EventBusName="access", Targets=[{"Id": "q", "Arn": queue_arn}])

    lines = send_all([NotificationTarget(kind="sns", topic_arn=topic),
                      NotificationTarget(kind="eventbridge", event_bus="access")],
                     from_records([record("expired")]))
    assert [line["status"] for line in lines] == ["delivered", "delivered"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    documents = [b.get("detail", b) for b in bodies]
    assert {d["event"] for d in documents} == {"expired"}
    assert len(documents) == 2
    for document in documents:
        validate(document)


@mock_aws
def test_a_topic_or_bus_of_another_region_is_reached_in_its_own_region() -> None:
    topic = boto3.client("sns", region_name="eu-west-1").create_topic(Name="t")["TopicArn"]
    bus = boto3.client("events", region_name="eu-west-1").create_event_bus(
        Name="access")["EventBusArn"]
    lines = send_all([NotificationTarget(kind="sns", topic_arn=topic),
                      NotificationTarget(kind="eventbridge", event_bus=bus)],
                     from_records([record("expired")]))  # the transport's region: us-east-1
    assert [line["status"] for line in lines] == ["delivered", "delivered"]


@mock_aws
def test_an_aws_target_that_fails_is_recorded_as_a_failed_delivery() -> None:
    missing = f"arn:aws:sns:us-east-1:{ACCOUNT}:nope"
    lines = send_all([NotificationTarget(kind="sns", topic_arn=missing)],
                     from_records([record("expired")]))
    assert lines[0]["status"] == "failed"
    assert "sns:Publish" in lines[0]["error"]


def test_delivery_failed_is_the_one_failure_dispatch_records() -> None:
    class Boom:
        def send(self, target: NotificationTarget, document: dict[str, Any]) -> None:
            raise RuntimeError("a bug, not a delivery failure")

    with pytest.raises(RuntimeError):
        dispatch([webhook("https://x")], from_records([record("expired")]), [], Boom(),
                 time=iso(T0), repository_url=None)
    assert issubclass(DeliveryFailed, Exception)


# ---------------------------------------------------------------------- requested (polled)
class Lister:
    """Open pull requests as GitHub would list them; counts the files calls it answers."""

    def __init__(self, pulls: list[OpenPull], files: dict[int, list[tuple[str, str]]]) -> None:
        self.pulls, self.files = pulls, files
        self.files_asked: list[int] = []

    def open_pulls(self, base: str) -> list[OpenPull]:
        assert base == "main"
        return self.pulls

    def pull_file_changes(self, number: int) -> list[tuple[str, str]]:
        self.files_asked.append(number)
        return self.files[number]


def test_only_request_files_a_pull_request_adds_or_changes_are_asked_for() -> None:
    asked = requests_asked([
        ("requests/data-fix/alice-1.yaml", "added"), ("requests/data-fix/alice-2.yml", "modified"),
        ("requests/data-fix/alice-3.yaml", "renamed"), ("requests/data-fix/old.yaml", "removed"),
        ("requests/README.md", "modified"), ("requests/data-fix/notes.txt", "added"),
        ("requests/data-fix/deep/x.yaml", "added"), ("policies/data-fix.yaml", "modified"),
        ("requests/data-fix/<!channel>.yaml", "added"), ("requests/Data-Fix/a.yaml", "added")])
    assert asked == [("data-fix/alice-1", "requests/data-fix/alice-1.yaml"),
                     ("data-fix/alice-2", "requests/data-fix/alice-2.yml"),
                     ("data-fix/alice-3", "requests/data-fix/alice-3.yaml")]


def test_each_open_pull_request_head_is_looked_at_once_and_drafts_wait() -> None:
    ready = OpenPull(number=7, author="alice", head_sha="a" * 40, draft=False)
    draft = OpenPull(number=8, author="bob", head_sha="b" * 40, draft=True)
    lister = Lister([ready, draft], {7: [("requests/data-fix/alice-1.yaml", "added")],
                                     8: [("requests/data-fix/bob-1.yaml", "added")]})
    first = poll(lister, "main", [], T0)
    [event] = first.events
    assert (event.kind, event.request, event.pr, event.facts) == (
        "requested", "data-fix/alice-1", 7,
        {"requester": "alice", "path": "requests/data-fix/alice-1.yaml"})
    validate(event.document(REPO))
    assert lister.files_asked == [7]  # the draft is not asked for yet
    assert poll(lister, "main", first.lines, T0).events == []  # same head: not looked at again
    assert lister.files_asked == [7]
    pushed = OpenPull(number=7, author="alice", head_sha="c" * 40, draft=False)
    ready_now = OpenPull(number=8, author="bob", head_sha="b" * 40, draft=False)
    lister.pulls = [pushed, ready_now]
    again = poll(lister, "main", first.lines, T0 + timedelta(minutes=15))
    assert [e.request for e in again.events] == ["data-fix/alice-1", "data-fix/bob-1"]
    assert again.events[0].id == event.id  # a push re-announces nothing: same request, same id


# ---- credentials from AWS Secrets Manager (what the shipped workflows use) ------------------

HOOK_KEY = "k3y-from-secrets-manager"


def counting_session(reads: list[str]) -> Any:
    """A boto3 session factory whose clients append each GetSecretValue's SecretId."""
    def session() -> boto3.Session:
        made = boto3.Session()
        made.events.register("provide-client-params.secrets-manager.GetSecretValue",
                             lambda params, **_: reads.append(params["SecretId"]))
        return made
    return session


def stored(name: str, value: str, region: str = "eu-west-1") -> str:
    """A secret in another region than the transport's: the ARN's region must win."""
    return str(boto3.client("secretsmanager", region_name=region).create_secret(
        Name=name, SecretString=value)["ARN"])


@mock_aws
def test_a_webhook_key_from_secrets_manager_signs_and_is_read_once_per_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    arn = stored("jitflow/hook", HOOK_KEY)
    reads: list[str] = []
    transport = Transport({"GITHUB_ACTIONS": "true"}, "us-east-1", counting_session(reads))
    events = from_records([record("granted"), record("expired", seq=2)])
    with receiver(HOOK_KEY.encode()) as hook:  # checks every signature and the schema
        target = NotificationTarget(kind="webhook", url=hook.url, secret_arn=arn)
        lines = dispatch([target], events, [], transport, time=iso(T0),
                         repository_url=REPO).lines
    assert [line["status"] for line in lines] == ["delivered"] * 3
    assert hook.refused == []
    assert reads == [arn]  # three deliveries, one read
    assert capsys.readouterr().out.splitlines() == [f"::add-mask::{HOOK_KEY}"]
    assert HOOK_KEY not in json.dumps(lines)


@mock_aws
def test_a_slack_url_from_secrets_manager_is_used_and_never_named() -> None:
    with receiver() as slack:
        arn = stored("jitflow/slack", slack.url + "\n")
        target = NotificationTarget(kind="slack", url_secret_arn=arn)
        lines = send_all([target], from_records([record("expired")]), environ={})
    assert [line["status"] for line in lines] == ["delivered"]
    assert json.loads(slack.received[0].body)["blocks"][0]["text"]["text"] == "Access expired"
    assert target.label == f"slack:{arn}"
    assert slack.url not in json.dumps(lines)


@mock_aws
def test_an_unreadable_secret_fails_each_delivery_once_read_and_the_next_run_retries() -> None:
    empty = stored("jitflow/hook", " ")
    missing = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:jitflow/gone-AbCdEf"
    reads: list[str] = []
    events = from_records([record("granted")])
    with receiver() as hook:
        targets = [NotificationTarget(kind="webhook", url=hook.url, secret_arn=empty),
                   NotificationTarget(kind="slack", url_secret_arn=missing)]
        first = dispatch(targets, events, [], Transport({}, "us-east-1", counting_session(reads)),
                         time=iso(T0), repository_url=REPO).lines
        assert [line["status"] for line in first] == ["failed"] * 4
        assert "holds no text" in first[0]["error"]
        assert f"secretsmanager:GetSecretValue of {missing} failed" in first[1]["error"]
        assert sorted(reads) == sorted([empty, missing])  # a failure is remembered for the run
        assert hook.received == []
        boto3.client("secretsmanager", region_name="eu-west-1").put_secret_value(
            SecretId=empty, SecretString=HOOK_KEY)
        second = send_all(targets[:1], [], earlier=first)  # the next run
    assert [line["status"] for line in second] == ["delivered", "delivered"]
    assert [r.headers[render.EVENT_HEADER] for r in hook.received] == ["approved", "granted"]


def test_a_secret_the_role_may_not_read_fails_the_delivery_not_the_run(
        moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through moto's IAM enforcement, with credentials that may describe the secret but not
    read it (moto checks the action only: which ARNs the roles may read is proven on the
    bootstrap's own documents, tests/test_bootstrap.py)."""
    secrets = moto_server.client("secretsmanager")
    arn = secrets.create_secret(Name="jitflow/hook", SecretString=HOOK_KEY)["ARN"]
    creds, _ = create_user(moto_server.client("iam"), "notifier", {
        "Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": arn})
    for key, value in moto_server.env(creds).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with receiver() as hook, enforcing(moto_server):
        target = NotificationTarget(kind="webhook", url=hook.url, secret_arn=arn)
        lines = send_all([target], from_records([record("expired")]), environ={})
    assert [line["status"] for line in lines] == ["failed"]
    assert "AccessDenied" in lines[0]["error"]
    assert HOOK_KEY not in json.dumps(lines)
    assert hook.received == []


SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:jitflow/hook-AbCdEf"
HOOK = "https://hooks.example.com/jitflow"


@pytest.mark.parametrize(("target", "read"), [
    ({"type": "webhook", "url": HOOK, "secret_arn": SECRET_ARN},
     NotificationTarget(kind="webhook", url=HOOK, secret_arn=SECRET_ARN)),
    ({"type": "webhook", "url": HOOK, "secret_env": "K"},
     NotificationTarget(kind="webhook", url=HOOK, secret_env="K")),
    ({"type": "slack", "url_secret_arn": SECRET_ARN},
     NotificationTarget(kind="slack", url_secret_arn=SECRET_ARN)),
    ({"type": "slack", "url_env": "K"}, NotificationTarget(kind="slack", url_env="K")),
    ({"type": "webhook", "url": HOOK, "secret_arn": SECRET_ARN, "secret_env": "K"}, None),
    ({"type": "webhook", "url": HOOK}, None),
    ({"type": "slack", "url_secret_arn": SECRET_ARN, "url_env": "K"}, None),
    ({"type": "slack"}, None),
    ({"type": "slack", "url_secret_arn": SECRET_ARN.replace(ACCOUNT, "*")}, None),
    ({"type": "webhook", "url": HOOK, "secret_arn": "jitflow/hook"}, None),  # a name: no ARN
    ({"type": "sns", "topic_arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t",
      "secret_arn": SECRET_ARN}, None),
])
def test_a_target_names_exactly_one_place_for_its_credential(
        target: dict[str, Any], read: NotificationTarget | None) -> None:
    text = json.dumps({"admins": ["@acme/security"], "accounts": {ACCOUNT: {}},
                       "notifications": {"targets": [target]}})
    settings, problems = read_settings(text.encode())
    if read is None:
        assert settings is None
        assert [(p.path, p.line) for p in problems] == [("jitflow.yaml", 1)]
    else:
        assert problems == []
        assert settings is not None and settings.notification_targets == (read,)


def test_a_secret_is_masked_line_by_line_and_only_in_github_actions(
        capsys: pytest.CaptureFixture[str]) -> None:
    mask_secret("line one\n100%0A\n", {"GITHUB_ACTIONS": "true"})
    mask_secret("not in actions", {})
    assert capsys.readouterr().out.splitlines() == ["::add-mask::line one",
                                                    "::add-mask::100%250A"]
