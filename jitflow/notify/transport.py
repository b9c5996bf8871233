"""The adapter that sends notifications: urllib for webhooks and Slack, boto3 for SNS and
EventBridge. Every failure becomes `DeliveryFailed`, which the caller records in the outbox
and retries on the next run: a notification never fails a grant or a revoke.

A webhook's key and a Slack URL come from the environment, or from AWS Secrets Manager with
the job's own credentials (the workflows hold no GitHub secret: docs/threat-model.md).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Literal

import boto3

from jitflow.aws import aws_errors, client_config, mask_secret, read_secret
from jitflow.errors import AwsError
from jitflow.model import NotificationTarget
from jitflow.notify import render
from jitflow.notify.dispatch import DeliveryFailed

TIMEOUT_SECONDS = 10.0
SOURCE = "jitflow"  # EventBridge `source`
# Plain http only to this machine (a local relay or a test receiver); anything else is https.
_ALLOWED_URL = re.compile(r"\A(?:https://|http://(?:127\.0\.0\.1|localhost|\[::1\])[:/])")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would resend a signed body (or a Slack message) to a host nobody
    configured: treat it as a failure instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class Transport:
    """A `jitflow.notify.Sender` over the network."""

    def __init__(self, environ: Mapping[str, str], region: str,
                 session: Callable[[], boto3.Session] = boto3.Session,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.environ = environ
        self.region = region
        self.session = session
        self.timeout = timeout
        # secret ARN -> its text, or why it could not be read: one read per secret per run
        self._secrets: dict[str, str | DeliveryFailed] = {}

    def send(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        senders = {"webhook": self._webhook, "slack": self._slack, "sns": self._sns,
                   "eventbridge": self._eventbridge}
        try:
            senders[target.kind](target, document)
        except AwsError as error:
            raise DeliveryFailed(error.message) from error

    def _env(self, name: str | None) -> str:
        value = self.environ.get(name or "")
        if not value:
            raise DeliveryFailed(f"environment variable {name} is not set")
        return value

    def _secret(self, env: str | None, arn: str | None) -> str:
        """The credential a target names: its Secrets Manager secret (`*_arn`) or its
        environment variable (the schema admits exactly one of the two)."""
        if arn is None:
            return self._env(env)
        if arn not in self._secrets:
            try:
                value = read_secret(arn, self.region, self.session())
            except AwsError as error:
                self._secrets[arn] = DeliveryFailed(error.message)
            else:
                mask_secret(value, self.environ)
                self._secrets[arn] = value
        found = self._secrets[arn]
        if isinstance(found, DeliveryFailed):
            raise DeliveryFailed(str(found))
        return found

    def _post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> None:
        if not _ALLOWED_URL.match(url):
            raise DeliveryFailed("refusing a notification URL that is not https")
        # the scheme was checked just above: https, or http to this machine only
        request = urllib.request.Request(url, data=payload, method="POST",  # noqa: S310
                                         headers={"User-Agent": "jitflow", **headers})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            raise DeliveryFailed(f"HTTP {error.code} from the receiver") from error
        except (urllib.error.URLError, OSError) as error:  # refused, DNS, timeout
            raise DeliveryFailed(f"could not reach the receiver: {error}") from error
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status} from the receiver")

    def _webhook(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        secret = self._secret(target.secret_env, target.secret_arn).encode()
        payload = render.body(document)
        self._post(str(target.url), payload, render.webhook_headers(document, payload, secret))

    def _slack(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        payload = json.dumps(render.slack_message(document)).encode()
        url = self._secret(target.url_env, target.url_secret_arn)
        self._post(url, payload, {"Content-Type": "application/json"})

    def _client(self, service: Literal["sns", "events"], name: str | None) -> Any:
        """A client in the region of the topic or bus ARN `name` (SNS and EventBridge take
        only their own region's), else in `region`."""
        fields = (name or "").split(":")
        region = fields[3] if name and name.startswith("arn:") and len(fields) > 5 \
            and fields[3] else self.region
        return self.session().client(service, region_name=region, config=client_config())

    def _sns(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        with aws_errors("sns:Publish"):
            self._client("sns", target.topic_arn).publish(
                TopicArn=target.topic_arn, Message=render.body(document).decode(),
                MessageAttributes={"event": {"DataType": "String",
                                             "StringValue": str(document["event"])}})

    def _eventbridge(self, target: NotificationTarget, document: dict[str, Any]) -> None:
        with aws_errors("events:PutEvents"):
            answer = self._client("events", target.event_bus).put_events(Entries=[{
                "Source": SOURCE, "DetailType": f"jitflow {document['event']}",
                "Detail": render.body(document).decode(), "EventBusName": target.event_bus}])
        if answer.get("FailedEntryCount"):
            entry = answer["Entries"][0]
            raise DeliveryFailed(f"EventBridge refused the event: {entry.get('ErrorCode')}")
