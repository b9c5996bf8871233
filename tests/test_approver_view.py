"""What an approver reads: the requirement worded as one ("needs 1 approval from ..."), each risk
flag present exactly when it applies, the policy's limits beside what is asked, and how to
approve; the already-live flag from the base branch's audit log, through the real check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow import markdown
from jitflow.gitcmd import Git
from jitflow.model import AccessEntry
from jitflow.overlap import already_live, live_grants
from jitflow.plan import Plan, build_plan, render_markdown, render_text
from jitflow.pr.check import check_changes
from jitflow.pr.report import render_report
from testing.builders import ACCOUNT, T0, make_policy, make_request
from testing.check_repo import Repo

ROLE = f"arn:aws:iam::{ACCOUNT}:role/alice-data"


def plan(**request: Any) -> Plan:
    return build_plan(make_request(**request), make_policy(), T0)


def flags(found: Plan, start: str) -> list[str]:
    return [r for r in found.risks if r.startswith(start)]


# --- each flag, present when it applies and absent when it does not --------------------------


def test_an_iam_user_principal_is_flagged_for_its_long_lived_keys() -> None:
    assert flags(plan(principal=f"arn:aws:iam::{ACCOUNT}:user/alice"), "IAM user principal")
    assert not flags(plan(principal=ROLE), "IAM user principal")


def test_a_principal_in_another_account_is_flagged() -> None:
    # The rules refuse such a request before any plan is shown; the flag stays as a second
    # line of defence should a plan ever be built for one.
    other = plan(principal="arn:aws:iam::999988887777:role/alice-data")
    assert flags(other, "principal in another account (999988887777)")
    assert not flags(plan(principal=ROLE), "principal in another account")


@pytest.mark.parametrize(("hours", "flagged"), [(2, False), (1, False), (3, True), (4, True)])
def test_a_duration_over_half_the_maximum_is_flagged(hours: int, flagged: bool) -> None:
    found = plan(duration=timedelta(hours=hours))  # the policy allows at most 4h
    assert bool(flags(found, "long:")) is flagged
    if flagged:
        assert flags(found, "long:") == [f"long: {hours}h is over half the policy's maximum of 4h"]


def test_a_persistent_bucket_configuration_action_is_flagged() -> None:
    policy = make_policy(actions=("s3:PutObject", "s3:PutLifecycleConfiguration"),
                         prefixes=("",), bucket_configuration=True, min_approvals=2)
    asked = make_request(access=(AccessEntry("b", "", ("s3:PutLifecycleConfiguration",)),))
    assert flags(build_plan(asked, policy, T0), "persistent: s3:PutLifecycleConfiguration")
    assert not flags(build_plan(make_request(), policy, T0), "persistent")


def granted(request: str, *, principal: str = ROLE, bucket: str = "b",
            expiry: str = "2026-11-28T12:00:00Z", session: str | None = None) -> dict[str, Any]:
    return {"event": "granted", "request": request, "principal": principal,
            "session": session, "expiry": expiry,
            "access": [{"bucket": bucket, "prefix": "p/", "actions": ["s3:PutObject"]}]}


def test_a_grant_already_live_for_the_same_principal_and_bucket_is_flagged() -> None:
    live = live_grants([granted("data-fix/earlier")]).values()
    assert already_live(plan(), live) == (
        "already live: data-fix/earlier gives this principal write access to b until "
        "2026-11-28T12:00:00Z",)


@pytest.mark.parametrize("record", [
    granted("data-fix/earlier", principal=f"arn:aws:iam::{ACCOUNT}:role/bob-data"),
    granted("data-fix/earlier", bucket="other-bucket"),
    granted("data-fix/earlier", expiry="2026-11-28T09:00:00Z"),  # expired at the plan's time
    granted("data-fix/earlier", session="bob@example.com"),  # another person on the role
], ids=["other principal", "other bucket", "expired", "other session"])
def test_no_already_live_flag_for_another_grant(record: dict[str, Any]) -> None:
    assert already_live(plan(), live_grants([record]).values()) == ()


def test_an_ended_grant_is_not_live() -> None:
    records = [granted("data-fix/earlier"), {"event": "early_revoked", "request":
                                             "data-fix/earlier"}]
    assert live_grants(records) == {}
    assert already_live(plan(), live_grants(records[:1]).values()) != ()


# --- wording and layout ------------------------------------------------------------------------


def test_the_text_plan_states_the_requirement_and_the_limits() -> None:
    text = render_text(plan())
    assert "approval  needs 1 approval from erin" in text
    assert "approvals 1 of" not in text
    assert "duration  2h (policy: at most 4h)" in text
    assert "policy    data-fix allows buckets b; prefixes p/; actions s3:PutObject" in text
    two = render_text(build_plan(make_request(), make_policy(min_approvals=2,
                                                             approvers=("erin", "@o/t")), T0))
    assert "needs 2 approvals from erin, @o/t" in two


def test_the_markdown_plan_shows_the_limits_beside_what_is_asked() -> None:
    markdown = render_markdown(plan(duration=timedelta(hours=3)))
    assert "| Approval | needs 1 approval from erin |" in markdown
    assert "| | Asked | Policy `data-fix` allows |" in markdown
    assert "| Duration | 3h | at most 4h |" in markdown
    assert "| Prefixes | `p/2026/` | under `p/` |" in markdown
    assert "- :warning: long: 3h is over half the policy's maximum of 4h" in markdown


# --- through the PR check: the report and the base branch's audit log -------------------------


AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SHARED = "arn:aws:iam::111122223333:role/data-engineers"


def _log(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


@pytest.mark.parametrize(("session", "flagged"), [("alice@acme.example", True),
                                                  ("bob@acme.example", False)])
def test_the_check_flags_a_grant_live_on_the_base(tmp_path: Path, session: str,
                                                  flagged: bool) -> None:
    repo = Repo(tmp_path / "repo")
    earlier = granted("analytics-raw/alice-earlier", principal=SHARED, bucket="analytics-raw",
                      session=session)
    repo.on_main("audit/2026-11.jsonl", _log(earlier))
    repo.add_request()
    result = check_changes(Git(repo.path), "main", "pr", "alice", applied_at=AT)
    assert result.ok
    report = render_report(result)
    assert ("already live: analytics-raw/alice-earlier" in report) is flagged
    needs = markdown.text("needs 1 approval from @acme/data-platform, erin")  # no pings
    assert f"**To approve:** this request {needs}: in *Files changed*" in report

