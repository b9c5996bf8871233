"""Grant orchestration: apply, revoke, reconcile and status over narrow ports.

Takes ports (IAM per account, the audit log, an approval source) and a `now`; never imports
boto3. `Engine` wires the units of one run together (`Applier`, `Revoker`, `Reconciler`,
`status`) around one `Ledger`, so every unit sees the records the others wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from jitflow import grants
from jitflow.audit.ledger import AuditStore, Ledger
from jitflow.engine.apply import Applier
from jitflow.engine.outcome import GrantStatus, Outcome
from jitflow.engine.ports import (
    AccountsPort,
    Approval,
    ApprovalSource,
    Check,
    IamPort,
    request_paths,
)
from jitflow.engine.reconcile import Reconciler
from jitflow.engine.revoke import Revoker
from jitflow.engine.run import Run
from jitflow.engine.status import status
from jitflow.errors import Rejected
from jitflow.model import Policy, PolicySet, Request, Settings
from jitflow.tree import Tree

__all__ = [
    "AccountsPort",
    "Approval",
    "ApprovalSource",
    "Check",
    "Engine",
    "GrantStatus",
    "IamPort",
    "Outcome",
    "request_paths",
]


class Engine:
    """One run's units over shared ports; `outcomes` lists what the run did."""

    def __init__(self, accounts: AccountsPort, audit: AuditStore, settings: Settings,
                 actor: str, dry_run: bool = False) -> None:
        self.run = Run(accounts, Ledger(audit, actor), settings, dry_run)
        self.applier = Applier(self.run)
        self.revoker = Revoker(self.run)
        self.reconciler = Reconciler(self.run)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.run.outcomes

    def apply(self, request: Request, policy: Policy, source: ApprovalSource,
              now: datetime) -> Outcome:
        return self.applier.apply(request, policy, source, now)

    def apply_requests(self, pairs: Iterable[tuple[Request, Policy]], source: ApprovalSource,
                       now: datetime) -> list[Outcome]:
        """Apply each request in order. A Rejected one is recorded and the rest go on; an
        AwsError aborts the run (a rerun completes it)."""
        results: list[Outcome] = []
        for request, policy in pairs:
            try:
                results.append(self.apply(request, policy, source, now))
            except Rejected as error:
                results.append(self._rejected(request, policy, error, now))
        return results

    def _rejected(self, request: Request, policy: Policy, error: Rejected,
                  now: datetime) -> Outcome:
        if not self.run.dry_run:
            self.run.ledger.record("rejected", now, request=request.id,
                                   requester=request.requester, principal=request.principal,
                                   account=policy.account, reason=error.message)
        return self.run.done(Outcome("rejected", request.id, policy.account,
                                     detail=error.message, dry_run=self.run.dry_run))

    def revoke_expired(self, now: datetime) -> list[Outcome]:
        """Remove every expired grant and settle grants the log thinks open that AWS no
        longer has."""
        return self.revoke(now)

    def revoke(self, now: datetime, check: Check | None = None) -> list[Outcome]:
        """One pass per account over one listing: expired grants removed, grants missing from
        AWS settled, and with `check` the live ones reconciled against the default branch."""
        # The log is read before AWS is listed: a grant recorded after the listing (an apply
        # running meanwhile) must not look like one AWS no longer has.
        self.run.ledger.load()
        results: list[Outcome] = []
        for account in sorted(self.run.settings.accounts):
            iam = self.run.accounts.iam(account, "revoke")
            listed = iam.list_jitflow_policies()
            swept = grants.sweep(listed, now)
            results += self.revoker.expired(iam, account, swept, now)
            results += self.revoker.settle_missing(account, {p.arn for p in listed}, now)
            if check is not None:
                results += self.reconciler.account(iam, account, swept, check, now)
        return [r for r in results if r.action != "kept"]

    def revoke_request(self, request_id: str, reason: str, now: datetime) -> Outcome:
        return self.revoker.early(request_id, reason, now)

    def reconcile(self, tree: Tree, policies: PolicySet, source: ApprovalSource,
                  now: datetime) -> list[Outcome]:
        check = Check(tree, policies, source)
        results: list[Outcome] = []
        for account in sorted(self.run.settings.accounts):
            iam = self.run.accounts.iam(account, "revoke")
            swept = grants.sweep(iam.list_jitflow_policies(), now)
            results += self.reconciler.account(iam, account, swept, check, now)
        return [r for r in results if r.action != "kept"]

    def status(self, now: datetime, tree: Tree | None = None,
               policies: PolicySet | None = None) -> list[GrantStatus]:
        return status(self.run, now, tree, policies)
