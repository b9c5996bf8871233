"""Grant orchestration: apply, revoke expired, early revoke, reconcile, status.

Takes ports (IAM per account, the audit log, an approval source) and a `now`; never imports
boto3. Every step is ordered so that a failure at any call leaves a state that is safe (a
created-but-unattached policy grants nothing; detach comes before delete) and that the next run
completes; an audit record is written only after AWS did the thing it records.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from jitflow import grants
from jitflow.clock import iso
from jitflow.errors import Rejected, UsageError
from jitflow.grants import (
    DeleteConflictError,
    Entities,
    EntityExistsError,
    Grant,
    GrantTags,
    ListedPolicy,
    NoSuchEntityError,
    Principal,
)
from jitflow.loader import YAML_SUFFIXES, load_and_check
from jitflow.model import Policy, PolicySet, Request, Settings
from jitflow.plan import Plan, build_plan, document_sha256
from jitflow.tree import Tree

ENDED = frozenset({"revoked", "expired", "early_revoked", "orphan_revoked"})


# --- ports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """Evidence that a request was approved: who, in which PR, merged as which commit."""

    request_id: str
    approvers: tuple[str, ...]
    pr: int
    commit: str


class ApprovalSource(Protocol):
    def approval_for(self, request: Request, policy: Policy) -> Approval:
        """The approval of `request`; raises jitflow.errors.Rejected when there is none."""
        ...


class IamPort(Protocol):
    """The IAM calls of one account (jitflow.aws.Iam); errors are jitflow.errors.AwsError,
    with the grants.*Error subclasses for the outcomes the engine handles."""

    def list_jitflow_policies(self) -> list[ListedPolicy]: ...
    def list_attached(self, principal: Principal) -> list[tuple[str, str]]: ...
    def list_entities(self, arn: str) -> Entities: ...
    def get_policy(self, arn: str) -> tuple[dict[str, str], str]: ...
    def get_document(self, arn: str, version_id: str) -> str: ...
    def list_versions(self, arn: str) -> list[tuple[str, bool]]: ...
    def create_policy(
        self, name: str, path: str, document_json: str, tags: list[dict[str, str]]
    ) -> str: ...
    def attach(self, principal: Principal, arn: str) -> None: ...
    def detach(self, kind: str, name: str, arn: str) -> None: ...
    def delete_version(self, arn: str, version_id: str) -> None: ...
    def delete_policy(self, arn: str) -> None: ...


class AccountsPort(Protocol):
    def iam(self, account: str, label: str = "run") -> IamPort: ...


class AuditPort(Protocol):
    def append(self, event: str, details: dict[str, Any], at: datetime) -> dict[str, Any]: ...
    def append_unless(
        self, event: str, details: dict[str, Any], at: datetime,
        done_elsewhere: Callable[[list[dict[str, Any]]], bool],
    ) -> dict[str, Any] | None: ...
    def records(self) -> Sequence[dict[str, Any]]: ...
    def for_request(self, request_id: str) -> Sequence[dict[str, Any]]: ...


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one step did (or, in a dry run, would do) to one grant."""

    action: str  # granted unchanged reconciled expired early_revoked orphan_revoked revoked none
    request_id: str
    account: str
    policy_arn: str = ""
    detail: str = ""
    dry_run: bool = False

    def text(self) -> str:
        verb = f"would {self.action}" if self.dry_run else self.action
        where = f" {self.policy_arn}" if self.policy_arn else f" in {self.account}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{verb}: {self.request_id or '-'}{where}{detail}"


@dataclass(frozen=True)
class GrantStatus:
    """One /jitflow/ policy as `jitflow status` shows it."""

    account: str
    policy_arn: str
    request_id: str | None
    principal: str | None
    expiry: datetime | None
    access: tuple[tuple[str, tuple[str, ...]], ...]  # (resource, actions) of each Allow
    problems: tuple[str, ...]


def _field(record: dict[str, Any], key: str) -> Any:
    """A record field whether the log stores details flat or under "details"."""
    if key in record:
        return record[key]
    details = record.get("details")
    return details.get(key) if isinstance(details, dict) else None


def _open_grant(history: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The `granted` record of a grant that no later record ended, if any."""
    current: dict[str, Any] | None = None
    for record in history:
        event = _field(record, "event")
        if event == "granted":
            current = record
        elif event in ENDED:
            current = None
    return current


def _access_summary(request: Request) -> list[dict[str, Any]]:
    return [{"bucket": e.bucket, "prefix": e.prefix, "actions": list(e.actions)}
            for e in request.access]


def request_paths(request_id: str) -> list[str]:
    policy, name = grants.check_request_id(request_id)
    return [f"requests/{policy}/{name}{suffix}" for suffix in YAML_SUFFIXES]


@dataclass(frozen=True)
class Check:
    """What reconcile compares AWS with: the default branch and the approvals."""

    tree: Tree
    policies: PolicySet
    source: ApprovalSource


# --- the engine -------------------------------------------------------------------------------


@dataclass
class Engine:
    accounts: AccountsPort
    audit: AuditPort
    settings: Settings
    actor: str
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    # The log read once per run (reading verifies the whole chain) and kept current on append,
    # indexed by request and by granted ARN: a sweep of N grants must not scan the log N times.
    _log: list[dict[str, Any]] | None = field(default=None, init=False, repr=False)
    _by_request: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict, init=False, repr=False)
    _granted_arns: set[str] = field(default_factory=set, init=False, repr=False)
    # (policy ARN, "granted" | "ended") of the records other runs appended to the same log
    # while this one ran: a change one of them already recorded is not recorded again.
    _elsewhere: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)

    # ---- audit ----

    def _records(self) -> list[dict[str, Any]]:
        if self._log is None:
            self._log = list(self.audit.records())
            for record in self._log:
                self._index(record)
        return self._log

    def _index(self, record: dict[str, Any]) -> None:
        request_id = _field(record, "request")
        if request_id:
            self._by_request.setdefault(str(request_id), []).append(record)
        if _field(record, "event") == "granted":
            self._granted_arns.add(str(_field(record, "policy_arn") or ""))

    def _history(self, request_id: str) -> list[dict[str, Any]]:
        self._records()
        return list(self._by_request.get(request_id, ()))

    def _record(self, event: str, at: datetime, **details: Any) -> None:
        base = {"actor": self.actor, "reconciled": False}
        records = self._records()
        def change(record: dict[str, Any]) -> tuple[str, str]:
            kind = _field(record, "event")
            return (str(_field(record, "policy_arn") or ""),
                    "granted" if kind == "granted" else "ended" if kind in ENDED else "")

        def done_elsewhere(others: list[dict[str, Any]]) -> bool:
            # Under the log's lock: learn what other runs wrote since, and skip a grant or an
            # end another run already recorded (two revokes, a revoke and an apply, an apply
            # delivered twice), so each change has exactly one record.
            for other in others:
                records.append(other)
                self._index(other)
                self._elsewhere.add(change(other))
            mine = change({"event": event, **details})
            return bool(mine[0] and mine[1]) and mine in self._elsewhere

        record = self.audit.append_unless(event, {**base, **details}, at, done_elsewhere)
        if record is not None:
            records.append(record)
            self._index(record)

    def _done(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    def _ended_details(self, grant_id: str, account: str, arn: str,
                       expiry: datetime | None) -> dict[str, Any]:
        """Details for a record ending a grant: copied from its `granted` record when there is
        one (no per-policy AWS read on the hot path), else what the name and path say."""
        opened = _open_grant(self._history(grant_id)) if grant_id else None
        details: dict[str, Any] = {"request": grant_id, "account": account, "policy_arn": arn,
                                   "expiry": iso(expiry) if expiry else None}
        if opened is not None:
            for key in ("requester", "principal", "access", "approvers", "pr", "commit"):
                details[key] = _field(opened, key)
        return details

    # ---- apply ----

    def apply(self, request: Request, policy: Policy, source: ApprovalSource,
              now: datetime) -> Outcome:
        """Grant one approved request. Fails closed: no approval, no grant."""
        approval = source.approval_for(request, policy)
        if approval.request_id != request.id:
            raise Rejected(f"{request.id}: the approval found is for {approval.request_id}")
        if not approval.approvers:
            raise Rejected(f"{request.id}: no approvers on record: nothing is granted")
        try:
            principal = grants.parse_principal(request.principal)
        except ValueError as error:
            raise Rejected(f"{request.id}: {error}") from None
        if principal.account != policy.account:
            raise Rejected(f"{request.id}: principal {request.principal} is not in account "
                           f"{policy.account} of policy {policy.name}")
        if policy.account not in self.settings.accounts:
            raise Rejected(f"{request.id}: account {policy.account} is not in jitflow.yaml")

        history = self._history(request.id)
        if any(_field(r, "event") in ENDED for r in history):
            raise Rejected(f"{request.id} was granted before and that grant has ended: "
                           "a request is granted once (no replay); file a new request")
        iam = self.accounts.iam(policy.account, request.id)
        opened = _open_grant(history)
        if opened is not None:
            return self._done(self._confirm(iam, request, policy, opened, now))

        plan = build_plan(request, policy, now)
        name = grants.policy_name(request.id)
        # One read gives both the quota and the crash check (a grant attached by a run that
        # died before its audit record): ListAttached{Role,User}Policies.
        attached = iam.list_attached(principal)
        mine = [arn for attached_name, arn in attached if attached_name == name]
        if mine:
            adopted = self._adopt(iam, request, policy, approval=approval, arn=mine[0], now=now)
            return self._done(adopted)
        quota = self.settings.attached_policy_quota
        if len(attached) >= quota:
            raise Rejected(f"{request.id}: {request.principal} already has {len(attached)} "
                           f"managed policies attached (quota {quota}); wait for a grant to end "
                           "or detach one")
        try:
            tags = grants.build_tags(
                request_id=request.id, requester=request.requester,
                principal=request.principal, expiry=plan.expiry, commit=approval.commit,
                pr=approval.pr, approvers=approval.approvers,
                sha256=document_sha256(plan.document_json()),
            )
        except ValueError as error:
            raise Rejected(f"{request.id}: {error}") from None
        path = grants.policy_path(plan.expiry)
        if self.dry_run:
            return self._done(Outcome("granted", request.id, policy.account,
                                      grants.policy_arn(policy.account, plan.expiry, request.id),
                                      f"until {iso(plan.expiry)}", dry_run=True))
        try:
            arn = iam.create_policy(name, path, plan.document_json(), tags)
        except EntityExistsError:
            # Left by a run that failed before attaching: it never granted anything. Remove it
            # and start clean, so the duration counts from this (successful) apply.
            stale = [p for p in iam.list_jitflow_policies() if p.name == name]
            if not stale:
                raise Rejected(f"{request.id}: an IAM policy named {name} exists outside "
                               "/jitflow/; remove it by hand") from None
            if stale[0].attachment_count:  # attached since our look: a concurrent apply's
                return self._done(self._adopt(iam, request, policy, approval=approval,
                                              arn=stale[0].arn, now=now))
            self._remove(iam, stale[0])
            arn = iam.create_policy(name, path, plan.document_json(), tags)
        iam.attach(principal, arn)
        self._record("granted", now, **self._granted_details(plan, approval, arn))
        return self._done(Outcome("granted", request.id, policy.account, arn,
                                  f"until {iso(plan.expiry)}"))

    def _granted_details(self, plan: Plan, approval: Approval, arn: str) -> dict[str, Any]:
        request = plan.request
        return {
            "request": request.id, "requester": request.requester,
            "principal": request.principal, "account": plan.policy.account,
            "access": _access_summary(request), "expiry": iso(plan.expiry),
            "approvers": list(approval.approvers), "pr": approval.pr,
            "commit": approval.commit, "policy_arn": arn,
        }

    def _matches(self, request: Request, policy: Policy, tags: GrantTags | None) -> Plan | None:
        """The plan this grant was built from, if its tags say it is exactly this request's."""
        if tags is None or tags.request != request.id or tags.principal != request.principal:
            return None
        plan = build_plan(request, policy, tags.expiry - request.duration)
        return plan if document_sha256(plan.document_json()) == tags.sha256 else None

    def _confirm(self, iam: IamPort, request: Request, policy: Policy,
                 opened: dict[str, Any], now: datetime) -> Outcome:
        """Applying an already granted request: a no-op while the same grant is live."""
        arn = str(_field(opened, "policy_arn") or "")
        expiry = str(_field(opened, "expiry") or "")
        if not expiry or expiry <= iso(now):
            raise Rejected(f"{request.id}: its grant expired at {expiry or '?'}; no replay")
        try:
            tags, _version = iam.get_policy(arn)
        except NoSuchEntityError:
            raise Rejected(f"{request.id}: its grant {arn} no longer exists; no replay") from None
        if self._matches(request, policy, grants.parse_tags(tags)) is None:
            raise Rejected(f"{request.id} changed since it was granted; the live grant stays as "
                           "approved — file a new request for different access")
        return Outcome("unchanged", request.id, policy.account, arn, "already granted")

    def _adopt(self, iam: IamPort, request: Request, policy: Policy, *, approval: Approval,
               arn: str, now: datetime) -> Outcome:
        """A grant attached by a run that died before writing its record: record it."""
        tags, _version = iam.get_policy(arn)
        plan = self._matches(request, policy, grants.parse_tags(tags))
        if plan is None:
            raise Rejected(f"{request.id}: {arn} is attached but does not match this request; "
                           "the revoke job's reconcile removes it")
        if not self.dry_run:
            details = self._granted_details(plan, approval, arn)
            self._record("granted", now, **{**details, "reconciled": True})
        return Outcome("reconciled", request.id, policy.account, arn,
                       "granted by an earlier run; record written", dry_run=self.dry_run)

    def apply_requests(self, requests_with_policies: Iterable[tuple[Request, Policy]],
                       source: ApprovalSource, now: datetime) -> list[Outcome]:
        """Apply each request in order. A Rejected one is recorded and the rest go on; an
        AwsError aborts the run (a rerun completes it)."""
        results: list[Outcome] = []
        for request, policy in requests_with_policies:
            try:
                results.append(self.apply(request, policy, source, now))
            except Rejected as error:
                if not self.dry_run:
                    self._record("rejected", now, request=request.id,
                                 requester=request.requester, principal=request.principal,
                                 account=policy.account, reason=error.message)
                results.append(self._done(Outcome("rejected", request.id, policy.account,
                                                  detail=error.message, dry_run=self.dry_run)))
        return results

    # ---- removal ----

    def _remove(self, iam: IamPort, listed: ListedPolicy,
                holder: Principal | None = None) -> None:
        """Detach, then delete. Each step tolerates "already done", so a rerun after a failure
        at any call completes, and every state in between grants no more than before.

        `holder` is the principal the grant's open `granted` record names: it is detached
        directly, without asking IAM who holds the policy. If anything else still holds it
        (attached by hand, or since the listing) or it has extra versions, DeletePolicy answers
        DeleteConflict and nothing is deleted; only then are the entities listed, all
        detached, the non-default versions deleted, and the delete made again. Without a
        holder (orphans, leftovers) the entities are listed first.
        Usual cost: detach + delete with a holder; list + detach + delete without."""
        arn = listed.arn
        if listed.attachment_count:
            if holder is None:
                self._detach_all(iam, arn)
            else:
                with contextlib.suppress(NoSuchEntityError):  # detached by an earlier run
                    iam.detach(holder.kind, holder.name, arn)
        try:
            iam.delete_policy(arn)
        except NoSuchEntityError:
            return
        except DeleteConflictError:
            # Held by someone else, attached since the listing, or extra versions (jitflow
            # never makes any).
            self._detach_all(iam, arn)
            for version_id, is_default in iam.list_versions(arn):
                if not is_default:
                    with contextlib.suppress(NoSuchEntityError):
                        iam.delete_version(arn, version_id)
            try:
                iam.delete_policy(arn)
            except NoSuchEntityError:
                return

    def _detach_all(self, iam: IamPort, arn: str) -> None:
        entities = iam.list_entities(arn)
        for kind, names in (("role", entities.roles), ("user", entities.users),
                            ("group", entities.groups)):
            for name in names:
                with contextlib.suppress(NoSuchEntityError):
                    iam.detach(kind, name, arn)

    def _holder(self, request_id: str, arn: str) -> Principal | None:
        """The principal of this policy's open `granted` record, if there is one."""
        opened = _open_grant(self._history(request_id)) if request_id else None
        if opened is None or _field(opened, "policy_arn") != arn:
            return None
        try:
            return grants.parse_principal(str(_field(opened, "principal") or ""))
        except ValueError:
            return None

    def _end(self, iam: IamPort, event: str, listed: ListedPolicy, *, account: str,
             request_id: str, expiry: datetime | None, now: datetime, **extra: Any) -> Outcome:
        if event != "orphan_revoked" and self._leftover(listed):
            # Created by an apply that failed before attaching: never granted, so removing it
            # ends no grant and gets no audit record.
            if not self.dry_run:
                self._remove(iam, listed)
            return self._done(Outcome("cleaned", request_id, account, listed.arn,
                                      "never attached (a failed apply's leftover)",
                                      dry_run=self.dry_run))
        if not self.dry_run:
            # An orphan is suspect by definition: ask IAM who holds it rather than trust a
            # record. A recorded grant names its principal: no look-up on the hot path.
            holder = None if event == "orphan_revoked" else self._holder(request_id, listed.arn)
            self._remove(iam, listed, holder)
            details = self._ended_details(request_id, account, listed.arn, expiry)
            self._record(event, now, **{**details, **extra})
        return self._done(Outcome(event, request_id, account, listed.arn,
                                  str(extra.get("reason", "")), dry_run=self.dry_run))

    def _leftover(self, listed: ListedPolicy) -> bool:
        self._records()
        return listed.attachment_count == 0 and listed.arn not in self._granted_arns

    # ---- revoke ----

    def revoke_expired(self, now: datetime) -> list[Outcome]:
        """Remove every grant whose path expiry is <= now, in every configured account, and
        settle grants the log still thinks open but AWS no longer has."""
        return self.revoke(now)

    def revoke(self, now: datetime, check: Check | None = None) -> list[Outcome]:
        """One pass per account over one listing: expired grants removed, grants missing from
        AWS settled, and with `check` the live ones reconciled against the default branch."""
        results: list[Outcome] = []
        # The log is read before AWS is listed: a grant recorded after the listing (an apply
        # running meanwhile) must not look like one AWS no longer has.
        self._records()
        for account in sorted(self.settings.accounts):
            iam = self.accounts.iam(account, "revoke")
            listed = iam.list_jitflow_policies()
            swept = grants.sweep(listed, now)
            for grant in swept.expired:
                results.append(self._end(iam, "expired", grant.listed, account=account,
                                         request_id=grant.request_id, expiry=grant.expiry,
                                         now=now))
            results += self._settle_missing(account, {p.arn for p in listed}, now)
            if check is not None:
                results += self._reconcile_account(iam, account, swept, check, now)
        return [r for r in results if r.action != "kept"]

    def _open_grants(self, account: str) -> dict[str, dict[str, Any]]:
        last: dict[str, dict[str, Any]] = {}
        for record in self._records():
            request_id = _field(record, "request")
            event = _field(record, "event")
            if request_id and _field(record, "account") == account:
                if event == "granted":
                    last[request_id] = record
                elif event in ENDED:
                    last.pop(request_id, None)
        return last

    def _settle_missing(self, account: str, arns: set[str], now: datetime) -> list[Outcome]:
        """A granted record whose policy is gone: AWS removed it and the record of that was
        lost (a crash between the change and the log). Write it now, marked reconciled."""
        results: list[Outcome] = []
        for request_id, opened in sorted(self._open_grants(account).items()):
            arn = str(_field(opened, "policy_arn") or "")
            if arn in arns:
                continue
            expiry = str(_field(opened, "expiry") or "")
            event = "expired" if expiry and expiry <= iso(now) else "revoked"
            if not self.dry_run:
                details = {key: _field(opened, key) for key in (
                    "request", "requester", "principal", "account", "access", "expiry",
                    "approvers", "pr", "commit", "policy_arn")}
                self._record(event, now, **details, reconciled=True,
                             reason="the grant is no longer in AWS")
            results.append(self._done(Outcome(event, request_id, account, arn,
                                              "no longer in AWS; record written",
                                              dry_run=self.dry_run)))
        return results

    def revoke_request(self, request_id: str, reason: str, now: datetime) -> Outcome:
        """Early revoke of one request's grant, wherever it is."""
        try:
            name = grants.policy_name(request_id)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if not reason.strip():
            raise UsageError("an early revoke needs a --reason")
        opened = _open_grant(self._history(request_id))
        account_hint = _field(opened, "account") if opened else None
        accounts = [account_hint] if account_hint in self.settings.accounts else sorted(
            self.settings.accounts)
        for account in accounts:
            iam = self.accounts.iam(account, request_id)
            found = [self._end(iam, "early_revoked", listed, account=account,
                               request_id=request_id,
                               expiry=grants.expiry_from_path(listed.path), now=now,
                               reason=reason)
                     for listed in iam.list_jitflow_policies() if listed.name == name]
            ended = [o for o in found if o.action == "early_revoked"]
            if ended:
                return ended[0]
        if opened is not None:  # removed, but the record of it was lost
            account = str(account_hint)
            if not self.dry_run:
                details = {key: _field(opened, key) for key in (
                    "request", "requester", "principal", "account", "access", "expiry",
                    "approvers", "pr", "commit", "policy_arn")}
                self._record("early_revoked", now, **details, reason=reason, reconciled=True)
            return self._done(Outcome("early_revoked", request_id, account,
                                      str(_field(opened, "policy_arn") or ""),
                                      "no longer in AWS; record written", dry_run=self.dry_run))
        return self._done(Outcome("none", request_id, ",".join(accounts),
                                  detail="no live grant"))

    # ---- reconcile ----

    def reconcile(self, tree: Tree, policies: PolicySet, source: ApprovalSource,
                  now: datetime) -> list[Outcome]:
        """AWS (what is granted) against the default branch (what was approved): orphans are
        revoked at once; an approved grant missing its record gets one (reconciled)."""
        check = Check(tree, policies, source)
        results: list[Outcome] = []
        for account in sorted(self.settings.accounts):
            iam = self.accounts.iam(account, "revoke")
            swept = grants.sweep(iam.list_jitflow_policies(), now)
            results += self._reconcile_account(iam, account, swept, check, now)
        return [r for r in results if r.action != "kept"]

    def _reconcile_account(self, iam: IamPort, account: str, swept: grants.Sweep,
                           check: Check, now: datetime) -> list[Outcome]:
        results: list[Outcome] = []
        for bad in swept.malformed:
            results.append(self._end(iam, "orphan_revoked", bad, account=account,
                                     request_id=grants.request_id_from_name(bad.name) or "",
                                     expiry=None, now=now,
                                     reason="not a jitflow grant name or path"))
        open_grants = self._open_grants(account)
        for grant in swept.live:
            results.append(self._reconcile_one(
                iam, grant, account=account, tree=check.tree, policies=check.policies,
                source=check.source, opened=open_grants.get(grant.request_id), now=now))
        return results

    def _reconcile_one(self, iam: IamPort, grant: Grant, *, account: str, tree: Tree,
                       policies: PolicySet, source: ApprovalSource,
                       opened: dict[str, Any] | None, now: datetime) -> Outcome:
        reason, request, policy, tags = self._orphan_reason(iam, grant, tree, policies)
        if reason is None and opened is not None and _field(opened, "policy_arn") != grant.arn:
            if grant.listed.attachment_count == 0:  # a failed apply's leftover: grants nothing
                return Outcome("kept", grant.request_id, account, grant.arn)
            reason = "another grant of this request is on record"
        if reason is None and opened is None and request is not None and policy is not None:
            plan = self._matches(request, policy, tags)
            if plan is None:
                reason = "it does not match the request on the default branch"
            else:
                principal = grants.parse_principal(request.principal)
                if grant.arn not in {arn for _n, arn in iam.list_attached(principal)}:
                    # A failed apply's leftover: grants nothing; the next apply or the expiry
                    # sweep removes it.
                    return Outcome("kept", grant.request_id, account, grant.arn)
                try:
                    approval = source.approval_for(request, policy)
                except Rejected as error:
                    reason = f"not approved: {error.message}"
                else:
                    if not self.dry_run:
                        details = self._granted_details(plan, approval, grant.arn)
                        self._record("granted", now, **{**details, "reconciled": True})
                    return self._done(Outcome(
                        "reconciled", grant.request_id, account, grant.arn,
                        "approved grant without a record; record written", dry_run=self.dry_run))
        if reason is not None:
            return self._end(iam, "orphan_revoked", grant.listed, account=account,
                             request_id=grant.request_id, expiry=grant.expiry, now=now,
                             reason=reason)
        return Outcome("kept", grant.request_id, account, grant.arn)

    def _orphan_reason(
        self, iam: IamPort, grant: Grant, tree: Tree, policies: PolicySet
    ) -> tuple[str | None, Request | None, Policy | None, GrantTags | None]:
        request = None
        for path in request_paths(grant.request_id):
            if tree.read(path) is not None:
                request, problems = load_and_check(tree, path, policies)
                if request is None or any(p.severity == "error" for p in problems):
                    branch = self.settings.default_branch
                    return f"{path} on {branch} is not valid", None, None, None
                break
        if request is None:
            return (f"no request file for it on {self.settings.default_branch}",
                    None, None, None)
        policy = policies.policies.get(request.policy)
        if policy is None:  # pragma: no cover - check_request reports it first
            return f"policy {request.policy} does not exist", None, None, None
        raw_tags, version = iam.get_policy(grant.arn)
        tags = grants.parse_tags(raw_tags)
        if tags is None:
            return "its evidence tags are missing or malformed", None, None, None
        if tags.request != grant.request_id or tags.expiry != grant.expiry:
            return "its tags do not match its name and path", None, None, None
        if tags.principal != request.principal:
            return "its principal is not the request's principal", None, None, None
        if document_sha256(iam.get_document(grant.arn, version)) != tags.sha256:
            return "its document no longer matches its sha256 tag", None, None, None
        if grant.listed.attachment_count > 1:
            entities = iam.list_entities(grant.arn)
            principal = grants.parse_principal(request.principal)
            expected = Entities(roles=(principal.name,)) if principal.kind == "role" else \
                Entities(users=(principal.name,))
            if entities != expected:
                return "it is attached to more than the request's principal", None, None, None
        return None, request, policy, tags

    # ---- status ----

    def status(self, now: datetime, tree: Tree | None = None,
               policies: PolicySet | None = None) -> list[GrantStatus]:
        """Every /jitflow/ policy with its access and anything that looks wrong."""
        out: list[GrantStatus] = []
        for account in sorted(self.settings.accounts):
            iam = self.accounts.iam(account, "status")
            for listed in iam.list_jitflow_policies():
                out.append(self._status_one(iam, account, listed, now=now, tree=tree,
                                            policies=policies))
        return out

    def _status_one(self, iam: IamPort, account: str, listed: ListedPolicy, *, now: datetime,
                    tree: Tree | None, policies: PolicySet | None) -> GrantStatus:
        problems: list[str] = []
        grant = grants.as_grant(listed)
        if grant is None:
            problems.append("orphan: not a jitflow grant name or path")
        elif grant.expiry <= now:
            problems.append("expired but not yet revoked")
        raw_tags, version = iam.get_policy(listed.arn)
        tags = grants.parse_tags(raw_tags)
        document = iam.get_document(listed.arn, version)
        if tags is None:
            problems.append("orphan: evidence tags missing or malformed")
        elif document_sha256(document) != tags.sha256:
            problems.append("orphan: document does not match its sha256 tag")
        if grant is not None and tree is not None and policies is not None and not any(
            tree.read(path) is not None for path in request_paths(grant.request_id)
        ):
            problems.append(f"orphan: no request file on {self.settings.default_branch}")
        access: list[tuple[str, tuple[str, ...]]] = []
        for statement in json.loads(document).get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            resources = statement.get("Resource", [])
            actions = (actions,) if isinstance(actions, str) else tuple(actions)
            for resource in [resources] if isinstance(resources, str) else resources:
                access.append((str(resource), tuple(str(a) for a in actions)))
        return GrantStatus(
            account=account, policy_arn=listed.arn,
            request_id=grant.request_id if grant else None,
            principal=tags.principal if tags else None,
            expiry=grant.expiry if grant else None,
            access=tuple(access), problems=tuple(problems),
        )


def apply_requests(requests_with_policies: Iterable[tuple[Request, Policy]],
                   source: ApprovalSource, engine: Engine, now: datetime) -> list[Outcome]:
    """The GitHub part's entry point: apply the request files a merge added (in order)."""
    return engine.apply_requests(requests_with_policies, source, now)


