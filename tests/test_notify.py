"""Lifecycle notifications: events from audit records, signed webhooks and Slack over real
HTTP to a local receiver, SNS and EventBridge through moto, and the outbox that retries."""

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
from testing.builders import ACCOUNT, T0
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
