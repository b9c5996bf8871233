"""CloudTrail for the `jitflow audit trail` tests: events in the shape AWS records them, and
LookupEvents answered through botocore's Stubber.

Why not moto: moto 5.2.5 (and its main branch as of 2026-08) implements trails, event
selectors, insight selectors and tags, but not LookupEvents ("The lookup_events action has
not been implemented"), and it records no API call as a CloudTrail event at all. So:

- `assumed_role`, `iam_user` and `lookup_event` build events as CloudTrail documents them
  (the `userIdentity` element and the LookupEvents output in the AWS CloudTrail user guide
  and the `aws cloudtrail lookup-events` reference): recorded shapes, written by hand, not
  recorded from AWS;
- `StubbedHistory` answers LookupEvents on the CloudTrail clients jitflow creates, with
  botocore's Stubber, which checks every call's parameters against CloudTrail's API model and
  against the arguments the test expects. It proves what jitflow asks and how it pages; it
  says nothing about which events CloudTrail would return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.client import BaseClient
from botocore.stub import Stubber

from jitflow.clock import iso


def assumed_role(account: str, role: str, role_id: str, session: str, *, path: str = "/",
                 source_identity: str | None = None) -> dict[str, Any]:
    """The `userIdentity` of a call made by a session of a role (AssumeRole or SAML)."""
    context: dict[str, Any] = {
        "sessionIssuer": {"type": "Role", "principalId": role_id,
                          "arn": f"arn:aws:iam::{account}:role{path}{role}",
                          "accountId": account, "userName": role},
        "attributes": {"creationDate": "2026-11-28T08:55:00Z", "mfaAuthenticated": "false"},
    }
    if source_identity is not None:
        context["sourceIdentity"] = source_identity
    return {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
            "accountId": account, "accessKeyId": "ASIAEXAMPLEEXAMPLE00",
            "sessionContext": context}


def iam_user(account: str, name: str, user_id: str = "AIDAEXAMPLEEXAMPLE00") -> dict[str, Any]:
    """The `userIdentity` of a call made with an IAM user's own keys."""
    return {"type": "IAMUser", "principalId": user_id,
            "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account,
            "accessKeyId": "AKIAEXAMPLEEXAMPLE00", "userName": name}


def lookup_event(identity: dict[str, Any], at: datetime, name: str = "PutBucketTagging", *,
                 bucket: str = "analytics-raw", event_id: str = "",
                 error: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    """One entry of LookupEvents' `Events`, its `CloudTrailEvent` the full record as JSON."""
    event_id = event_id or f"ev-{name}-{iso(at)}"
    record: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": iso(at),
        "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": region,
        "sourceIPAddress": "192.0.2.10", "userAgent": "aws-cli/2.22.0",
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com"},
        "responseElements": None, "requestID": "EXAMPLE", "eventID": event_id,
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": identity["accountId"], "eventCategory": "Management",
    }
    if error is not None:
        record["errorCode"], record["errorMessage"] = error, "Access Denied"
    username = identity.get("userName") if identity["type"] == "IAMUser" else \
        identity["arn"].rsplit("/", 1)[-1]
    return {"EventId": event_id, "EventName": name, "ReadOnly": "false",
            "AccessKeyId": identity["accessKeyId"], "EventTime": at,
            "EventSource": "s3.amazonaws.com", "Username": username,
            "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket}],
            "CloudTrailEvent": json.dumps(record)}


@dataclass
class StubbedHistory:
    """LookupEvents on every CloudTrail client made while installed (with
    `testing.moto_server.instrument_clients`), per region: `pages[region]` is what each
    successive call returns, chained by NextToken; every call must carry `expected`
    (LookupAttributes, StartTime, EndTime, MaxResults). `error` instead answers the first
    call with that error code."""

    pages: dict[str, list[list[dict[str, Any]]]]
    expected: dict[str, Any]
    error: str | None = None
    stubbers: list[Stubber] = field(default_factory=list)

    def attach(self, client: BaseClient) -> None:
        if client.meta.service_model.service_name != "cloudtrail":
            return
        stubber = Stubber(client)
        if self.error is not None:
            stubber.add_client_error("lookup_events", service_error_code=self.error,
                                     service_message="injected", http_status_code=400,
                                     expected_params=self.expected)
        pages = self.pages.get(client.meta.region_name, [[]])
        for index, events in enumerate(pages if self.error is None else []):
            response: dict[str, Any] = {"Events": events}
            if index + 1 < len(pages):
                response["NextToken"] = f"token-{index + 1}"
            token = {"NextToken": f"token-{index}"} if index else {}
            stubber.add_response("lookup_events", response, {**self.expected, **token})
        stubber.activate()
        self.stubbers.append(stubber)

    def all_used(self) -> None:
        """Every queued answer was asked for: no page was skipped."""
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()
