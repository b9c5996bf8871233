"""Ending bucket-policy grants: expired, early, orphaned or changed statements, and grants
whose statements are gone. Only statements jitflow owns are ever removed.

One pass per account: every governed bucket's policy is read once, each request's
statements are judged across all its buckets, each changed bucket is written once (Put or
Delete, then a read-back), and only then is each ended grant recorded, once. A failure
part-way records nothing; the rerun finds what is left and completes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jitflow import bucketpolicy as bp
from jitflow.audit.record import UNMEASURED, AuditRecord, BucketItem
from jitflow.clock import iso
from jitflow.engine.apply import access_summary
from jitflow.engine.bucket_apply import BUCKET_POLICY
from jitflow.engine.buckets import (
    BucketBase,
    Live,
    digest,
    earliest_expiry,
    held_statements,
    live_from,
)
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import BucketPort, Check, request_paths
from jitflow.engine.schedule import lost_before_start
from jitflow.errors import ExternalError, Rejected, UsageError
from jitflow.grants import check_request_id
from jitflow.loader import load_and_check
from jitflow.model import Policy, Request

Held = dict[str, list[dict[str, Any]]]  # bucket -> one request's statements there


@dataclass(frozen=True)
class Verdict:
    """What to do with one request's statements: end them (`event`), or keep them; a grant
    proven approved but unrecorded also gets a `granted` record (`reconcile`)."""

    event: str | None = None
    reason: str = ""
    reconcile: dict[str, Any] | None = None


class BucketRevoker(BucketBase):
    # --- the sweep ----------------------------------------------------------------------

    def sweep(self, account: str, now: datetime, check: Check | None) -> list[Outcome]:
        port = self.run.accounts.buckets(account, "revoke")
        results: list[Outcome] = []
        self._asked_outside = False  # set when judging a grant asked IAM or GitHub
        befores = self._read_existing(port, account, results)
        held = held_statements(befores)
        verdicts = {rid: self._judge(rid, by_bucket, account, now, check)
                    for rid, by_bucket in sorted(held.items())}
        ending = {rid for rid, v in verdicts.items() if v.event}
        # A grant proven here is not in the log yet: the baseline must exempt it as well.
        proven = {rid: live_from(AuditRecord.from_json(
                      {"seq": 0, "time": "", "event": "granted", **v.reconcile}), now)
                  for rid, v in verdicts.items() if v.reconcile}
        sizes = {b: bp.size_of(before) for b, before in befores.items()}
        done: set[str] = set()  # buckets already as this run wants them
        written = 0
        try:
            for bucket, before in befores.items():
                extra = [live for rid, live in proven.items() if bucket in held[rid]]
                edit = self._edit(account, bucket, before, held=held, ending=ending, now=now,
                                  results=results, extra_live=extra)
                if not self.run.dry_run and bp.apply_edit(before, edit) != before:
                    # Read again unless nothing happened since the first read: no bucket
                    # written yet, no request judged against GitHub.
                    sizes[bucket] = self.write(port, bucket, before, edit,
                                               reread=written > 0 or self._asked_outside)
                    written += 1
                done.add(bucket)
        except ExternalError:
            # What is done in AWS is recorded before the run stops: each grant whose buckets
            # were all written. The bucket that failed is left to the rerun.
            self._conclude_all(verdicts, held, account, now=now, sizes=sizes, only=done)
            raise
        results += self._conclude_all(verdicts, held, account, now=now, sizes=sizes)
        return results + self._settle_missing(account, held, now)

    def _conclude_all(self, verdicts: dict[str, Verdict], held: dict[str, Held], account: str,
                      *, now: datetime, sizes: dict[str, int], only: set[str] | None = None
                      ) -> list[Outcome]:
        """Record each grant a verdict ends or proves (`only`: whose buckets are all in it)."""
        return [self._conclude(rid, held[rid], v, account, now=now, sizes=sizes)
                for rid, v in verdicts.items()
                if (v.event or v.reconcile) and (only is None or set(held[rid]) <= only)]

    def _read_existing(self, port: BucketPort, account: str, results: list[Outcome],
                       buckets: Iterable[str] | None = None
                       ) -> dict[str, dict[str, Any] | None]:
        """Each bucket's policy (default: every governed bucket); a bucket that does not
        exist holds no grant: it is reported, and never stops the others."""
        found: dict[str, dict[str, Any] | None] = {}
        for bucket in sorted(self.governed(account) if buckets is None else buckets):
            try:
                found[bucket] = self.read(port, bucket)
            except bp.NoSuchBucketError:
                results.append(self.run.done(Outcome(
                    "bucket_missing", "", account, buckets=(bucket,),
                    detail="no such bucket in this account: nothing to revoke there")))
        return found

    def _edit(self, account: str, bucket: str, before: dict[str, Any] | None, *,
              held: dict[str, Held], ending: set[str], now: datetime,
              results: list[Outcome], extra_live: Sequence[Live] = ()) -> bp.Edit:
        remove = frozenset(s["Sid"] for rid in ending for s in held[rid].get(bucket, ()))
        live = [*self.live_on(account, bucket, now, leaving=ending), *extra_live]
        try:
            baselines = tuple(self.baselines(account, bucket, live))
        except Rejected as error:
            # Removing access never waits for a baseline: the grants go, the baseline stays
            # as it is until the settings are fixed.
            results.append(self.run.done(Outcome("baseline_skipped", "", account,
                                                 detail=error.message, buckets=(bucket,))))
            return bp.Edit(remove=remove)
        return bp.Edit(put=baselines,
                       remove=remove | self.stale_baselines(account, bucket, before))

    def _judge(self, rid: str, by_bucket: Held, account: str, now: datetime,
               check: Check | None) -> Verdict:
        expiry = earliest_expiry(by_bucket)
        if expiry is None:
            return Verdict("orphan_revoked", "a jitflow statement without its expiry condition")
        if expiry <= now:
            return Verdict("expired")
        opened = self.run.ledger.open_grant(rid)
        if opened is not None and opened.in_bucket_policy and opened.account == account:
            return self._judge_recorded(opened, by_bucket, now)
        if any(r.ends_grant for r in self.run.ledger.history(rid)):
            return Verdict("orphan_revoked", "its grant has ended; the statements came back")
        if check is None:
            return Verdict()  # unrecorded: only a reconcile may prove or remove it
        return self._reconcile(rid, by_bucket, expiry, check, now)

    def _judge_recorded(self, opened: AuditRecord, by_bucket: Held, now: datetime) -> Verdict:
        """A recorded grant: ended when its statements drifted, or when its person lost
        eligibility before its scheduled start; else kept."""
        changed = _drift(opened, by_bucket)
        if changed:
            return Verdict("orphan_revoked", changed)
        lost = lost_before_start(opened, self.policies, now)
        return Verdict("revoked", lost) if lost else Verdict()

    def _reconcile(self, rid: str, by_bucket: Held, expiry: datetime, check: Check,
                   now: datetime) -> Verdict:
        """Unrecorded statements stay only when they are exactly what the request on the
        default branch grants, from an apply no later than now, and its merge re-verifies
        against GitHub. Statements in only some of its buckets (an apply that failed half-way)
        stay unrecorded until the apply's rerun completes them, or they expire."""
        self._asked_outside = True
        request, policy, reason = self._request_on_branch(rid, check)
        if request is None or policy is None:
            return Verdict("orphan_revoked", reason)
        try:
            subject = self.resolve(request, policy, check.policies.identities)
        except Rejected as error:
            return Verdict("orphan_revoked", error.message)
        start = expiry - request.duration if request.not_before is not None else None
        expected = bp.grant_statements(request, subject, expiry, start)
        mismatch = _mismatch(request, expected, by_bucket, expiry, now)
        if mismatch:
            return Verdict("orphan_revoked", mismatch)
        try:
            approval = check.source.approval_for(request, policy)
        except Rejected as error:
            return Verdict("orphan_revoked", f"not approved: {error.message}")
        if set(by_bucket) != set(expected):
            return Verdict()  # approved, half-written: the apply's rerun completes it
        return Verdict(reconcile={
            "request": rid, "requester": request.requester, "principal": request.principal,
            "account": policy.account, "access": access_summary(request), "expiry": iso(expiry),
            "approvers": list(approval.approvers), "pr": approval.pr, "commit": approval.commit,
            "grant_mode": BUCKET_POLICY, "session": subject.session,
            "role_id": subject.unique_id, "starts": iso(start) if start else None})

    def _request_on_branch(self, rid: str, check: Check
                           ) -> tuple[Request | None, Policy | None, str]:
        branch = self.run.settings.default_branch
        for path in request_paths(rid):
            if check.tree.read(path) is None:
                continue
            request, problems = load_and_check(check.tree, path, check.policies,
                                               self.partition)
            if request is None or any(p.severity == "error" for p in problems):
                return None, None, f"{path} on {branch} is not valid"
            policy = check.policies.policies[request.policy]
            if not policy.in_bucket_policy:
                return None, None, f"policy {policy.name} does not grant in bucket policies"
            return request, policy, ""
        return None, None, f"no request file for it on {branch}"

    # --- records ------------------------------------------------------------------------

    def _conclude(self, rid: str, by_bucket: Held, verdict: Verdict, account: str, *,
                  now: datetime, sizes: dict[str, int]) -> Outcome:
        buckets = tuple(sorted(by_bucket))
        if verdict.reconcile is not None:
            if not self.run.dry_run:
                items = [BucketItem(b, tuple(sorted(s["Sid"] for s in by_bucket[b])),
                                    digest(by_bucket[b]), sizes[b]).to_json() for b in buckets]
                self.run.ledger.record("granted", now, **verdict.reconcile, buckets=items,
                                       reconciled=True)
            return self.run.done(Outcome("reconciled", rid, account, buckets=buckets,
                                         detail="approved grant without a record; record "
                                         "written", dry_run=self.run.dry_run))
        event = verdict.event or ""
        if not self.run.dry_run:
            self.run.ledger.record(event, now, **self._ended(rid, account, by_bucket, sizes),
                                   **({"reason": verdict.reason} if verdict.reason else {}))
        return self.run.done(Outcome(event, rid, account, detail=verdict.reason,
                                     buckets=buckets, dry_run=self.run.dry_run))

    def _ended(self, rid: str, account: str, by_bucket: Held, sizes: dict[str, int]
               ) -> dict[str, Any]:
        """Details of a record ending a grant: its `granted` record's facts when there is one,
        else what the statements say; each bucket with its policy's size after the removal
        (what `jitflow check` next counts the budget from; UNMEASURED when not known)."""
        opened = self.run.ledger.open_grant(rid)
        if opened is not None and opened.in_bucket_policy:
            details = opened.grant_facts()
        else:
            expiry = earliest_expiry(by_bucket)
            details = {"request": rid, "account": account, "grant_mode": BUCKET_POLICY,
                       "expiry": iso(expiry) if expiry else None,
                       "buckets": [BucketItem(b, tuple(sorted(s["Sid"] for s in items)),
                                              digest(items), UNMEASURED).to_json()
                                   for b, items in sorted(by_bucket.items())]}
        for item in details.get("buckets") or ():
            item["policy_bytes"] = sizes.get(item["bucket"], UNMEASURED)
        return details

    def _settle_missing(self, account: str, held: dict[str, Held], now: datetime
                        ) -> list[Outcome]:
        """An open record whose statements are in no bucket: AWS lost them, or a run removed
        them and died before its record. Write the record now, marked reconciled."""
        results = []
        for rid, opened in sorted(self.open_bucket_grants(account).items()):
            if rid in held:
                continue
            event = "expired" if (opened.expiry or "") <= iso(now) else "revoked"
            if not self.run.dry_run:
                self.run.ledger.record(event, now, **opened.grant_facts(), reconciled=True,
                                       reason="the grant is no longer in AWS")
            results.append(self.run.done(Outcome(
                event, rid, account, detail="no longer in AWS; record written",
                buckets=tuple(i.bucket for i in opened.buckets or ()), dry_run=self.run.dry_run)))
        return results

    # --- early revoke --------------------------------------------------------------------

    def early(self, request_id: str, reason: str, now: datetime) -> Outcome | None:
        """End one request's bucket-policy grant now; None when it is not one."""
        try:
            check_request_id(request_id)
        except ValueError as error:
            raise UsageError(str(error)) from None
        opened = self.run.ledger.open_grant(request_id)
        if opened is not None and not opened.in_bucket_policy:
            return None
        account, buckets = self._where(request_id, opened)
        if account is None:
            return None
        port = self.run.accounts.buckets(account, request_id)
        befores = self._read_existing(port, account, [], buckets)
        held = held_statements(befores).get(request_id, {})
        if not held and opened is None:
            return None
        if not self.run.dry_run:
            sizes = self._remove(port, account, befores, request_id=request_id, held=held,
                                 now=now)
            details = self._ended(request_id, account, held, sizes)
            self.run.ledger.record("early_revoked", now, **details, reason=reason,
                                   reconciled=not held)
        detail = reason if held else "no longer in AWS; record written"
        return self.run.done(Outcome("early_revoked", request_id, account, detail=detail,
                                     buckets=tuple(sorted(held or buckets)),
                                     dry_run=self.run.dry_run))

    def _remove(self, port: BucketPort, account: str, befores: dict[str, Any], *,
                request_id: str, held: Held, now: datetime) -> dict[str, int]:
        """Take one request's statements out of each bucket; each policy's size after."""
        results: list[Outcome] = []
        sizes = {}
        for index, (bucket, before) in enumerate(befores.items()):
            edit = self._edit(account, bucket, before, held={request_id: held},
                              ending={request_id}, now=now, results=results)
            sizes[bucket] = self.write(port, bucket, before, edit, reread=index > 0)
        return sizes

    def _where(self, request_id: str, opened: AuditRecord | None
               ) -> tuple[str | None, list[str]]:
        """The account and buckets a request's bucket-policy grant is (or would be) in."""
        if opened is not None:
            return opened.account, sorted(i.bucket for i in opened.buckets or ())
        policy = self.policies.policy_of(request_id) if self.policies else None
        if policy is None or not policy.in_bucket_policy:
            return None, []
        return policy.account, sorted(policy.buckets)


def _mismatch(request: Request, expected: dict[str, list[dict[str, Any]]], by_bucket: Held,
              expiry: datetime, now: datetime) -> str:
    """Why unrecorded statements are not (part of) what an apply of `request` wrote ("")."""
    if expiry - request.duration > request.start(now):
        # Written by hand with a later expiry than any apply up to now (and its scheduled
        # start) could give.
        return "its expiry is later than the request's duration from any apply so far"
    if not set(by_bucket) <= set(expected) or any(
        digest(expected[b]) != digest(by_bucket[b]) for b in by_bucket
    ):
        return "it does not match the request on the default branch"
    return ""


def _drift(opened: AuditRecord, by_bucket: Held) -> str:
    """How the statements in AWS differ from the ones recorded as granted ("" if not)."""
    recorded = {item.bucket: item for item in opened.buckets or ()}
    for bucket in sorted(set(recorded) | set(by_bucket)):
        item, found = recorded.get(bucket), by_bucket.get(bucket, [])
        if item is None:
            return f"it has statements in bucket {bucket} that were never granted"
        if digest(found) != item.sha256:
            return f"its statements in bucket {bucket} changed since they were granted"
    return ""
