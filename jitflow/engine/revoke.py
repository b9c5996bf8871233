"""Ending identity-policy grants: expired ones, one early, and grants AWS no longer has."""

from __future__ import annotations

from datetime import datetime

from jitflow import grants
from jitflow.audit.record import AuditRecord
from jitflow.clock import iso
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import IamPort
from jitflow.engine.removal import end_grant
from jitflow.engine.run import Run
from jitflow.engine.schedule import lost_before_start
from jitflow.errors import UsageError
from jitflow.model import PolicySet


class Revoker:
    def __init__(self, run: Run) -> None:
        self.run = run

    def expired(self, iam: IamPort, account: str, swept: grants.Sweep,
                now: datetime) -> list[Outcome]:
        """Remove every swept grant whose path expiry is <= now."""
        return [
            end_grant(self.run, iam, "expired", grant.listed, account=account,
                      request_id=grant.request_id, expiry=grant.expiry, now=now)
            for grant in swept.expired
        ]

    def ineligible(self, iam: IamPort, account: str, swept: grants.Sweep,
                   policies: PolicySet | None, now: datetime) -> list[Outcome]:
        """End every live grant that has not started and whose person lost eligibility on
        the default branch (`policies`): `revoked`, with the reason."""
        results = []
        for grant in swept.live:
            opened = self.run.ledger.open_grant(grant.request_id)
            if opened is None or opened.policy_arn != grant.arn:
                continue  # unrecorded: reconcile judges it against the default branch
            reason = lost_before_start(opened, policies, now)
            if reason is not None:
                results.append(end_grant(self.run, iam, "revoked", grant.listed,
                                         account=account, request_id=grant.request_id,
                                         expiry=grant.expiry, now=now, reason=reason))
        return results

    def settle_missing(self, account: str, arns: set[str], now: datetime) -> list[Outcome]:
        """A granted record whose policy is gone: AWS removed it and the record of that was
        lost (a crash between the change and the log). Write it now, marked reconciled."""
        results: list[Outcome] = []
        for request_id, opened in sorted(self.run.ledger.open_grants(account).items()):
            arn = opened.policy_arn or ""
            if arn in arns:
                continue
            expiry = opened.expiry or ""
            event = "expired" if expiry and expiry <= iso(now) else "revoked"
            if not self.run.dry_run:
                self.run.ledger.record(event, now, **opened.grant_facts(), reconciled=True,
                                       reason="the grant is no longer in AWS")
            results.append(self.run.done(Outcome(event, request_id, account, arn,
                                                 "no longer in AWS; record written",
                                                 dry_run=self.run.dry_run)))
        return results

    def early(self, request_id: str, reason: str, now: datetime) -> Outcome:
        """Early revoke of one request's grant, wherever it is."""
        try:
            name = grants.policy_name(request_id)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if not reason.strip():
            raise UsageError("an early revoke needs a --reason")
        opened = self.run.ledger.open_grant(request_id)
        configured = self.run.settings.accounts
        hint = opened.account if opened else None
        accounts = [hint] if hint in configured and hint else sorted(configured)
        for account in accounts:
            iam = self.run.accounts.iam(account, request_id)
            found = [end_grant(self.run, iam, "early_revoked", listed, account=account,
                               request_id=request_id,
                               expiry=grants.expiry_from_path(listed.path), now=now,
                               reason=reason)
                     for listed in iam.list_jitflow_policies() if listed.name == name]
            ended = [o for o in found if o.action == "early_revoked"]
            if ended:
                return ended[0]
        if opened is not None:  # removed, but the record of it was lost
            return self._settle_early(opened, reason, now)
        return self.run.done(Outcome("none", request_id, ",".join(accounts),
                                     detail="no live grant"))

    def _settle_early(self, opened: AuditRecord, reason: str, now: datetime) -> Outcome:
        if not self.run.dry_run:
            self.run.ledger.record("early_revoked", now, **opened.grant_facts(), reason=reason,
                                   reconciled=True)
        return self.run.done(Outcome("early_revoked", opened.request or "",
                                     opened.account or "", opened.policy_arn or "",
                                     "no longer in AWS; record written",
                                     dry_run=self.run.dry_run))
