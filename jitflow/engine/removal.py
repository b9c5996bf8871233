"""Ending a grant in IAM: detach, then delete, then record. Each step tolerates "already
done", so a rerun after a failure at any call completes, and every state in between grants no
more than before. An audit record is written only after AWS did what it records."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from jitflow import grants
from jitflow.clock import iso
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import IamPort
from jitflow.engine.run import Run
from jitflow.grants import DeleteConflictError, ListedPolicy, NoSuchEntityError, Principal


def remove_policy(iam: IamPort, listed: ListedPolicy, holder: Principal | None = None) -> None:
    """Detach, then delete.

    `holder` is the principal the grant's open `granted` record names: it is detached
    directly, without asking IAM who holds the policy. If anything else still holds it
    (attached by hand, or since the listing) or it has extra versions, DeletePolicy answers
    DeleteConflict and nothing is deleted; only then are the entities listed, all detached,
    the non-default versions deleted, and the delete made again. Without a holder (orphans,
    leftovers) the entities are listed first.
    Usual cost: detach + delete with a holder; list + detach + delete without."""
    arn = listed.arn
    if listed.attachment_count:
        if holder is None:
            detach_all(iam, arn)
        else:
            with contextlib.suppress(NoSuchEntityError):  # detached by an earlier run
                iam.detach(holder.kind, holder.name, arn)
    try:
        iam.delete_policy(arn)
    except NoSuchEntityError:
        return
    except DeleteConflictError:
        # Held by someone else, attached since the listing, or extra versions (jitflow never
        # makes any).
        detach_all(iam, arn)
        for version_id, is_default in iam.list_versions(arn):
            if not is_default:
                with contextlib.suppress(NoSuchEntityError):
                    iam.delete_version(arn, version_id)
        with contextlib.suppress(NoSuchEntityError):
            iam.delete_policy(arn)


def detach_all(iam: IamPort, arn: str) -> None:
    entities = iam.list_entities(arn)
    for kind, names in (("role", entities.roles), ("user", entities.users),
                        ("group", entities.groups)):
        for name in names:
            with contextlib.suppress(NoSuchEntityError):
                iam.detach(kind, name, arn)


def holder_of(run: Run, request_id: str, arn: str) -> Principal | None:
    """The principal of this policy's open `granted` record, if there is one."""
    opened = run.ledger.open_grant(request_id)
    if opened is None or opened.policy_arn != arn:
        return None
    try:
        return grants.parse_principal(opened.principal or "")
    except ValueError:
        return None


def ended_details(run: Run, request_id: str, account: str, arn: str,
                  expiry: datetime | None) -> dict[str, Any]:
    """Details for a record ending a grant: copied from its `granted` record when there is
    one (no per-policy AWS read on the hot path), else what the name and path say."""
    details: dict[str, Any] = {"request": request_id, "account": account, "policy_arn": arn,
                               "expiry": iso(expiry) if expiry else None}
    opened = run.ledger.open_grant(request_id)
    if opened is not None:
        facts = opened.grant_facts()
        for key in ("requester", "principal", "access", "approvers", "pr", "commit"):
            details[key] = facts[key]
    return details


def is_leftover(run: Run, listed: ListedPolicy) -> bool:
    """Created by an apply that failed before attaching: it never granted anything."""
    return listed.attachment_count == 0 and not run.ledger.was_granted(listed.arn)


def end_grant(run: Run, iam: IamPort, event: str, listed: ListedPolicy, *, account: str,
              request_id: str, expiry: datetime | None, now: datetime,
              **extra: Any) -> Outcome:
    """Remove one /jitflow/ policy and record why (`event`: expired, early_revoked...)."""
    if event != "orphan_revoked" and is_leftover(run, listed):
        # Never granted, so removing it ends no grant and gets no audit record.
        if not run.dry_run:
            remove_policy(iam, listed)
        return run.done(Outcome("cleaned", request_id, account, listed.arn,
                                "never attached (a failed apply's leftover)",
                                dry_run=run.dry_run))
    if not run.dry_run:
        # An orphan is suspect by definition: ask IAM who holds it rather than trust a record.
        # A recorded grant names its principal: no look-up on the hot path.
        holder = None if event == "orphan_revoked" else holder_of(run, request_id, listed.arn)
        remove_policy(iam, listed, holder)
        details = ended_details(run, request_id, account, listed.arn, expiry)
        run.ledger.record(event, now, **{**details, **extra})
    return run.done(Outcome(event, request_id, account, listed.arn,
                            str(extra.get("reason", "")), dry_run=run.dry_run))
