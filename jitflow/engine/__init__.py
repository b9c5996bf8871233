"""Grant orchestration: apply, revoke, reconcile and status over narrow ports.

Takes ports (IAM per account, the audit log, an approval source) and a `now`; never imports
boto3. `Engine` wires the units of one run together (`Applier`, `Revoker`, `Reconciler`,
`status`) around one `Ledger`, so every unit sees the records the others wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from jitflow import grants
from jitflow.audit.ledger import AuditStore, Ledger
from jitflow.engine.apply import Applier
from jitflow.engine.bucket_apply import BucketApplier
from jitflow.engine.bucket_revoke import BucketRevoker
from jitflow.engine.bucket_status import BucketStatus
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
from jitflow.errors import ExternalError, Rejected
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
    """One run's units over shared ports; `outcomes` lists what the run did.

    `policies` are the default branch's (the base branch's for an apply): bucket-policy
    grants need its identities, and the read-only baselines its policies."""

    def __init__(self, accounts: AccountsPort, audit: AuditStore, settings: Settings,
                 actor: str, *, dry_run: bool = False, policies: PolicySet | None = None
                 ) -> None:
        self.run = Run(accounts, Ledger(audit, actor), settings, dry_run)
        self.policies = policies
        self.applier = Applier(self.run)
        self.revoker = Revoker(self.run)
        self.reconciler = Reconciler(self.run)
        self.bucket_applier = BucketApplier(self.run, policies)
        self.bucket_revoker = BucketRevoker(self.run, policies)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.run.outcomes

    def apply(self, request: Request, policy: Policy, source: ApprovalSource,
              now: datetime) -> Outcome:
        if policy.in_bucket_policy:
            return self.bucket_applier.apply(request, policy, source, now)
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

    def revoke(self, now: datetime, check: Check | None = None) -> list[Outcome]:
        """One pass per account over one listing: expired grants removed, grants missing from
        AWS settled, and with `check` the live ones reconciled against the default branch."""
        # The log is read before AWS is listed: a grant recorded after the listing (an apply
        # running meanwhile) must not look like one AWS no longer has.
        self.run.ledger.load()
        results: list[Outcome] = []
        failed: list[tuple[str, ExternalError]] = []
        buckets = self._bucket_units(check)
        for account in sorted(self.run.settings.accounts):
            # An account AWS fails in does not keep the others' grants alive: the sweep goes
            # on, and the run fails at the end (each removal made is already recorded).
            try:
                results += self._revoke_account(account, buckets, now, check)
            except ExternalError as error:
                failed.append((account, error))
        if failed:
            raise _accounts_failed(failed, len(self.run.settings.accounts))
        return [r for r in results if r.action != "kept"]

    def _revoke_account(self, account: str, buckets: BucketRevoker, now: datetime,
                        check: Check | None) -> list[Outcome]:
        results: list[Outcome] = []
        if self._grants_in_iam(account, check.policies if check else self.policies):
            results += self._revoke_iam(account, now, check)
        if buckets.governed(account):
            results += buckets.sweep(account, now, check)
        return results

    def _revoke_iam(self, account: str, now: datetime, check: Check | None) -> list[Outcome]:
        iam = self.run.accounts.iam(account, "revoke")
        listed = iam.list_jitflow_policies()
        swept = grants.sweep(listed, now)
        results = self.revoker.expired(iam, account, swept, now)
        results += self.revoker.settle_missing(account, {p.arn for p in listed}, now)
        ended = self.revoker.ineligible(iam, account, swept,
                                        check.policies if check else self.policies, now)
        results += ended
        gone = {o.request_id for o in ended}
        swept = replace(swept, live=tuple(g for g in swept.live if g.request_id not in gone))
        if check is not None:
            results += self.reconciler.account(iam, account, swept, check, now)
        return results

    def _bucket_units(self, check: Check | None) -> BucketRevoker:
        if check is not None and self.policies is None:
            return BucketRevoker(self.run, check.policies)
        return self.bucket_revoker

    def _grants_in_iam(self, account: str, policies: PolicySet | None) -> bool:
        """Whether identity-policy grants can exist in `account`: a policy of the default
        branch grants there in IAM, or the log has an open one. Unknown policies: yes. A
        bucket-policy-only account is never listed, so its roles need no IAM permission."""
        if policies is None:
            return True
        if any(not p.in_bucket_policy and p.account == account
               for p in policies.policies.values()):
            return True
        return any(not r.in_bucket_policy for r in self.run.ledger.open_grants(account).values())

    def revoke_request(self, request_id: str, reason: str, now: datetime) -> Outcome:
        ended = self.bucket_revoker.early(request_id, reason, now)
        if ended is not None:
            return ended
        if self._in_bucket_policy(request_id):
            # Nothing live in its buckets, and nothing of it was ever in IAM: a bucket-policy
            # account's roles may not even list IAM policies.
            return self.run.done(Outcome("none", request_id, "", detail="no live grant"))
        return self.revoker.early(request_id, reason, now)

    def refuse_revoke(self, request_id: str, reason: str, now: datetime, *, pr: int,
                      commit: str) -> Outcome:
        """A revoke that may not happen (a request file deleted without the approvals its
        deletion needs): a `rejected` record, and AWS left as it is."""
        opened = self.run.ledger.open_grant(request_id)
        account = opened.account if opened is not None else None
        if not account and self.policies is not None:
            policy = self.policies.policy_of(request_id)
            account = policy.account if policy is not None else None
        if not self.run.dry_run:
            whose = {} if opened is None else {"requester": opened.requester,
                                               "principal": opened.principal}
            self.run.ledger.record("rejected", now, request=request_id, **whose,
                                   account=account, pr=pr, commit=commit, reason=reason)
        return self.run.done(Outcome("rejected", request_id, account or "", detail=reason,
                                     dry_run=self.run.dry_run))

    def _in_bucket_policy(self, request_id: str) -> bool:
        opened = self.run.ledger.open_grant(request_id)
        if opened is not None:
            return opened.in_bucket_policy
        policy = self.policies.policy_of(request_id) if self.policies is not None else None
        return policy is not None and policy.in_bucket_policy

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
        """Every grant in AWS with anything that looks wrong; with `tree` and `policies` (the
        default branch), each grant is also checked for its request file."""
        known = policies if policies is not None else self.policies
        tree = tree if policies is not None else None
        buckets = BucketStatus(self.run, known)
        rows: list[GrantStatus] = []
        for account in sorted(self.run.settings.accounts):
            if self._grants_in_iam(account, known):
                rows += status(self.run, now, account, tree)
            if buckets.governed(account):
                rows += buckets.rows(account, now, tree)
        return rows



def _accounts_failed(failed: list[tuple[str, ExternalError]], total: int) -> ExternalError:
    """One error for the accounts a revoke could not sweep, of the first failure's kind (the
    failure itself when the run has one account)."""
    if total == 1:
        return failed[0][1]
    details = "; ".join(f"account {account}: {error.message}" for account, error in failed)
    return type(failed[0][1])(
        f"{len(failed)} of {total} accounts could not be swept, the others were: {details}")
