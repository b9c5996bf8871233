"""Races and clocks: two runs at once, an event delivered twice, a runner clock off by minutes.

The workflows share one `concurrency` group, so in production these runs queue; these tests
prove the engine and the audit log stay right when they do not (a dispatch by hand, a second
runner, a stuck queue). Each race is forced at a chosen AWS call (`OnCall` runs the other
engine there, synchronously), so every interleaving is deterministic; one test also runs two
revokes on real threads. For each: the AWS end state, exactly the expected audit events per
request, and a chain that verifies.

Covered elsewhere, not repeated here: a crash between the AWS change and the audit write, for
apply and for expiry and early revoke (tests/test_aws_faults.py::
test_crash_after_apply_is_recorded_once_as_reconciled_by_the_next_apply and
::test_crash_after_revoke_is_recorded_once_by_the_next_run[early|expired]); the audit push
racing another push (tests/test_push_audit.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jitflow import grants
from jitflow.audit.store import AuditLog
from jitflow.clock import iso
from jitflow.engine import Outcome
from testing.builders import Approvals
from testing.moto_server import (
    T0,
    CallLog,
    MotoServer,
    OnCall,
    World,
    audit_events,
    build_world,
    instrument_clients,
    make_engine,
    make_policy,
    make_request,
    point_env_at,
    unique_policy_names,
)

# DeletePolicy answers DeleteConflict as IAM does (moto deletes an attached policy).
pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")

DURATION = timedelta(hours=2)
EXPIRY = T0 + DURATION
INTERVAL = timedelta(minutes=15)  # jitflow-revoke.yml: cron "7,22,37,52 * * * *"
SKEW = timedelta(minutes=5)


@pytest.fixture
def world(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Enforcement off: these tests are about ordering; tests/test_aws_access.py about access.
    world = build_world(moto_server, objects=(), enforce=False)
    point_env_at(monkeypatch, moto_server, world.admin)
    with unique_policy_names():
        yield world


def _live(world: World) -> dict[str, list[str]]:
    """jitflow policy name -> the entities it is attached to (as the admin sees the account)."""
    iam = world.admin_client("iam")
    found: dict[str, list[str]] = {}
    for policy in iam.list_policies(Scope="Local", PathPrefix="/jitflow/")["Policies"]:
        entities = iam.list_entities_for_policy(PolicyArn=policy["Arn"])
        found[policy["PolicyName"]] = sorted(
            [r["RoleName"] for r in entities["PolicyRoles"]]
            + [u["UserName"] for u in entities["PolicyUsers"]]
        )
    return found


def _grant(world: World, audit: Path, *names: str, now: datetime = T0) -> list[str]:
    ids = []
    for name in names:
        request = make_request(name, world.role_arn, duration=DURATION)
        assert make_engine(audit).apply(request, make_policy(), Approvals(), now).action == (
            "granted"
        )
        ids.append(request.id)
    return ids


def _events(audit: Path) -> list[tuple[str, str]]:
    return [(event, request) for event, request, _reconciled in audit_events(audit)]


def _granted_then_expired(ids: list[str]) -> list[tuple[str, str]]:
    return [("granted", i) for i in ids] + [("expired", i) for i in ids]


def _interleave(op: str, other: Callable[[], object], run: Callable[[], Any],
                before: bool = False) -> Any:
    """Run `run`; at its first `op`, run `other` to completion, then let `run` go on."""
    hook = OnCall(op, other, before=before)
    with instrument_clients(hook):
        result = run()
    assert hook.fired, f"{op} was never called: the interleaving did not happen"
    return result


# ------------------------------------------------------------------- two revoke runs at once

# Where the second run (B) is when the first (A) does all of its work.
REVOKE_RACES = {
    # B listed the grants, then A removed and recorded them all; B then finds them gone.
    "after-b-listed": ("iam.ListPolicies", False),
    # B is about to detach (its view of the log already read), A removes and records first.
    "before-b-detaches": ("iam.DetachRolePolicy", True),
}


@pytest.mark.parametrize("race", sorted(REVOKE_RACES))
def test_two_revoke_runs_at_once_record_each_expiry_once(
    world: World, tmp_path: Path, race: str
) -> None:
    ids = _grant(world, tmp_path, "one", "two")
    op, before = REVOKE_RACES[race]
    first = make_engine(tmp_path)
    outcomes: list[Outcome] = _interleave(
        op, lambda: first.revoke(EXPIRY), lambda: make_engine(tmp_path).revoke(
            EXPIRY), before=before)
    assert sorted(o.action for o in first.outcomes) == ["expired", "expired"]
    assert {o.request_id for o in outcomes} <= set(ids)  # B neither fails nor invents work
    assert _live(world) == {}
    assert _events(tmp_path) == _granted_then_expired(ids)


def test_revoke_that_removed_a_grant_but_not_yet_recorded_it_does_not_record_it_twice(
    world: World, tmp_path: Path
) -> None:
    """A deleted the policy; before A writes `expired`, B sees the grant missing from AWS and
    writes the record (marked reconciled). A must then write nothing."""
    [request_id] = _grant(world, tmp_path, "one")
    second = make_engine(tmp_path)
    _interleave("iam.DeletePolicy", lambda: second.revoke(EXPIRY),
                lambda: make_engine(tmp_path).revoke(EXPIRY))
    assert [o.action for o in second.outcomes] == ["expired"]
    assert _live(world) == {}
    assert audit_events(tmp_path) == [("granted", request_id, False),
                                      ("expired", request_id, True)]


def test_two_revoke_threads_at_once_record_each_expiry_once(
    world: World, tmp_path: Path
) -> None:
    ids = _grant(world, tmp_path, "one", "two", "three", "four")
    engines = [make_engine(tmp_path) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            engines[index].revoke(EXPIRY)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert _live(world) == {}
    assert sorted(_events(tmp_path)) == sorted(_granted_then_expired(ids))


def test_early_revoke_racing_the_expiry_sweep_records_one_end(
    world: World, tmp_path: Path
) -> None:
    [request_id] = _grant(world, tmp_path, "one")
    sweep = make_engine(tmp_path)
    outcome = _interleave(
        "iam.ListPolicies", lambda: sweep.revoke(EXPIRY),
        lambda: make_engine(tmp_path).revoke_request(request_id, "done", EXPIRY))
    assert outcome.action in {"early_revoked", "none"}
    assert _live(world) == {}
    assert _events(tmp_path) == [("granted", request_id), ("expired", request_id)]


# ----------------------------------------------------------------- apply and revoke at once


def test_apply_between_the_revoke_listing_and_its_log_read_is_not_recorded_as_ended(
    world: World, tmp_path: Path
) -> None:
    """The revoke's listing predates the grant; its log read must too, or the fresh `granted`
    record looks like a grant AWS no longer has and gets a `revoked` record while live."""
    request = make_request("late", world.role_arn, duration=DURATION)

    def apply() -> None:
        make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)

    outcomes = _interleave("iam.ListPolicies", apply,
                           lambda: make_engine(tmp_path).revoke(T0))
    assert outcomes == []
    assert _live(world) == {"jitflow.lake.late": [world.role_name]}
    assert _events(tmp_path) == [("granted", request.id)]
    make_engine(tmp_path).revoke(EXPIRY)  # and the next interval ends it normally
    assert _live(world) == {}
    assert _events(tmp_path) == _granted_then_expired([request.id])


@pytest.mark.parametrize("op", ["iam.CreatePolicy", "iam.AttachRolePolicy"])
def test_revoke_during_an_apply_leaves_the_grant_and_its_one_record(
    world: World, tmp_path: Path, op: str
) -> None:
    """A revoke sweeping while an apply is half done sees a policy that is not expired (and
    maybe not attached yet): it must leave it, and the apply records it once."""
    request = make_request("mid", world.role_arn, duration=DURATION)
    sweep = make_engine(tmp_path)
    outcome = _interleave(
        op, lambda: sweep.revoke(T0 + timedelta(minutes=1)),
        lambda: make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0))
    assert outcome.action == "granted"
    assert sweep.outcomes == []
    assert _live(world) == {"jitflow.lake.mid": [world.role_name]}
    assert _events(tmp_path) == [("granted", request.id)]


def test_apply_and_revoke_threads_never_leave_a_grant_without_its_record(
    world: World, tmp_path: Path
) -> None:
    requests = [make_request(f"r{i}", world.role_arn, duration=DURATION) for i in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def apply() -> None:
        engine = make_engine(tmp_path)
        start.wait()
        for request in requests:
            engine.apply(request, make_policy(), Approvals(), T0)

    def revoke() -> None:
        engine = make_engine(tmp_path)
        start.wait()
        for _ in range(3):
            engine.revoke(T0)

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # reported by the main thread
                errors.append(error)
        return run

    threads = [threading.Thread(target=guarded(t)) for t in (apply, revoke)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert _live(world) == {f"jitflow.lake.r{i}": [world.role_name] for i in range(3)}
    assert _events(tmp_path) == [("granted", r.id) for r in requests]


# ------------------------------------------------------------------ an apply delivered twice


def test_apply_delivered_twice_grants_once_and_the_second_run_is_a_no_op(
    world: World, tmp_path: Path
) -> None:
    request = make_request("twice", world.role_arn, duration=DURATION)
    make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0)
    calls = CallLog()
    with instrument_clients(calls):
        again = make_engine(tmp_path).apply(request, make_policy(), Approvals(),
                                            T0 + timedelta(minutes=3))
    assert again.action == "unchanged"
    assert [c for c in calls.calls if not c.startswith(("iam.List", "iam.Get", "sts.Get"))] == []
    assert _live(world) == {"jitflow.lake.twice": [world.role_name]}
    assert _events(tmp_path) == [("granted", request.id)]


# Where the first delivery is when the second runs entirely, and how the first then ends.
TWICE_RACES = {
    # It looked for an attached grant (none yet); its CreatePolicy then finds the second's
    # live grant by name: it adopts it (the record is the second's), never removes it.
    "iam.ListAttachedRolePolicies": "reconciled",
    # It created its policy but had not attached it: the second removed that leftover, so the
    # first's attach fails (an AWS error, exit 3, no record: it granted nothing).
    "iam.CreatePolicy": "NoSuchEntityError",
}


@pytest.mark.parametrize("op", sorted(TWICE_RACES))
def test_apply_delivered_twice_at_once_keeps_one_grant_and_one_record(
    world: World, tmp_path: Path, op: str
) -> None:
    """The second delivery (a minute later) runs entirely while the first is at `op`: the
    first must neither remove the second's live grant nor record a second `granted`."""
    request = make_request("twice", world.role_arn, duration=DURATION)
    second = make_engine(tmp_path)

    def deliver_again() -> None:
        second.apply(request, make_policy(), Approvals(), T0 + timedelta(minutes=1))

    try:
        first = _interleave(
            op, deliver_again,
            lambda: make_engine(tmp_path).apply(request, make_policy(), Approvals(), T0))
        ended = first.action
    except grants.NoSuchEntityError as error:
        ended = type(error).__name__
    assert ended == TWICE_RACES[op]
    assert [o.action for o in second.outcomes] == ["granted"]
    live = _live(world)
    assert list(live.values()) == [[world.role_name]]
    records = AuditLog(tmp_path).records()
    assert [(r["event"], r["request"]) for r in records] == [("granted", request.id)]
    arn = world.admin_client("iam").list_policies(Scope="Local", PathPrefix="/jitflow/")[
        "Policies"][0]["Arn"]
    assert records[0]["policy_arn"] == arn  # the record names the grant that is live


# ------------------------------------------------------------------------- the clock is off


def _document(world: World, arn: str) -> dict[str, Any]:
    iam = world.admin_client("iam")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"][
        "Document"]
    return document if isinstance(document, dict) else dict(json.loads(document))


@pytest.mark.parametrize("skew", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_apply_with_a_skewed_clock_agrees_on_one_expiry_everywhere(
    world: World, tmp_path: Path, skew: timedelta
) -> None:
    """Everything is derived from the runner's `now` once: the AWS-side DateLessThan, the path
    the sweep reads, the expiry tag and the audit record name the same instant. A runner clock
    off by s moves that instant by s against AWS's clock (the grant lasts duration - s)."""
    request = make_request("skewed", world.role_arn, duration=DURATION)
    runner_now = T0 + skew
    outcome = make_engine(tmp_path).apply(request, make_policy(), Approvals(), runner_now)
    expected = iso(runner_now + DURATION)
    conditions = [s["Condition"]["DateLessThan"]["aws:CurrentTime"]
                  for s in _document(world, outcome.policy_arn)["Statement"]
                  if s["Effect"] == "Allow"]
    assert conditions and set(conditions) == {expected}
    path_expiry = grants.expiry_from_path(
        world.admin_client("iam").get_policy(PolicyArn=outcome.policy_arn)["Policy"]["Path"])
    assert path_expiry is not None and iso(path_expiry) == expected
    tags = world.admin_client("iam").list_policy_tags(PolicyArn=outcome.policy_arn)["Tags"]
    assert grants.tags_to_dict(tags)[grants.TAG_EXPIRY] == expected
    [record] = AuditLog(tmp_path).records()
    assert (record["expiry"], record["time"]) == (expected, iso(runner_now))


def test_revoke_with_a_clock_behind_never_removes_early_and_removes_on_the_next_interval(
    world: World, tmp_path: Path
) -> None:
    """Bound: with the revoke runner's clock s behind, a grant is removed from IAM at most
    one interval + s after its expiry (true time); AWS itself denies it from the expiry on,
    whatever the runner's clock, by the DateLessThan condition on its document."""
    [request_id] = _grant(world, tmp_path, "slow")
    true_time = EXPIRY + timedelta(minutes=1)  # the first run after the expiry
    assert make_engine(tmp_path).revoke(true_time - SKEW) == []  # it thinks: 4 min left
    assert list(_live(world)) == ["jitflow.lake.slow"]
    assert _events(tmp_path) == [("granted", request_id)]

    true_time += INTERVAL
    [outcome] = make_engine(tmp_path).revoke(true_time - SKEW)
    assert outcome.action == "expired"
    assert true_time - EXPIRY <= INTERVAL + SKEW
    assert _live(world) == {}
    assert _events(tmp_path) == _granted_then_expired([request_id])


def test_runners_with_clocks_apart_keep_one_verifiable_chain(
    world: World, tmp_path: Path
) -> None:
    """Apply on a runner 5 minutes ahead, early revoke on one 5 minutes behind: the records'
    times go backwards, the chain (ordered by seq and hash, not by time) still verifies."""
    [request_id] = _grant(world, tmp_path, "apart", now=T0 + SKEW)
    outcome = make_engine(tmp_path).revoke_request(request_id, "done", T0 - SKEW)
    assert outcome.action == "early_revoked"
    assert _live(world) == {}
    times = [r["time"] for r in AuditLog(tmp_path).records()]
    assert times == [iso(T0 + SKEW), iso(T0 - SKEW)]
    assert _events(tmp_path) == [("granted", request_id), ("early_revoked", request_id)]
