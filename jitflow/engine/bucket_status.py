"""`jitflow status` for bucket-policy grants: each grant's statements in each governed
bucket, and each read-only baseline with the principals and sessions it lets write."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jitflow import bucketpolicy as bp
from jitflow.engine.buckets import BucketBase, digest, held_statements
from jitflow.engine.outcome import GrantStatus
from jitflow.engine.ports import request_paths
from jitflow.tree import Tree


class BucketStatus(BucketBase):
    def rows(self, account: str, now: datetime, tree: Tree | None) -> list[GrantStatus]:
        port = self.run.accounts.buckets(account, "status")
        befores = {b: self.read(port, b) for b in sorted(self.governed(account))}
        out: list[GrantStatus] = []
        for bucket, policy in befores.items():
            held = held_statements({bucket: policy})
            out += [self._grant(account, bucket, rid, by_bucket[bucket], now=now, tree=tree)
                    for rid, by_bucket in sorted(held.items())]
            statements = bp.statements_of(policy)
            ends = _grantee_ends(statements)
            out += [_baseline(account, bucket, s, ends) for s in statements
                    if (name := bp.baseline_policy_of(s.get("Sid"))) is not None
                    and s["Sid"] == bp.baseline_sid(name)]
        return out

    def _grant(self, account: str, bucket: str, rid: str,
               statements: Sequence[Mapping[str, Any]], *, now: datetime,
               tree: Tree | None) -> GrantStatus:
        expiries = [bp.statement_expiry(s) for s in statements]
        expiry = None if None in expiries else min(e for e in expiries if e is not None)
        problems = []
        if expiry is None:
            problems.append("orphan: a statement without its expiry condition")
        elif expiry <= now:
            problems.append("expired but not yet revoked (AWS already denies it)")
        opened = self.run.ledger.open_grant(rid)
        item = next((i for i in (opened.buckets or ()) if i.bucket == bucket), None) \
            if opened is not None else None
        if item is None:
            problems.append("orphan: no open grant on record for these statements")
        elif digest(statements) != item.sha256:
            problems.append("orphan: the statements changed since they were granted")
        if tree is not None and not any(tree.read(p) is not None for p in request_paths(rid)):
            problems.append(f"orphan: no request file on {self.run.settings.default_branch}")
        first = statements[0]
        return GrantStatus(
            account=account, policy_arn="", request_id=rid,
            principal=_principal(first), expiry=expiry,
            access=tuple((str(s.get("Resource")), tuple(_listed(s.get("Action"))))
                         for s in statements),
            problems=tuple(problems), bucket=bucket, session=_session(first))


def _grantee_ends(statements: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """userid (or principal) -> when the baseline holds it again, from its `U<n>T` Deny."""
    ends: dict[str, str] = {}
    for statement in statements:
        sid = str(statement.get("Sid", ""))
        if bp.baseline_policy_of(sid) is None or not sid.endswith("T"):
            continue
        condition = statement.get("Condition", {})
        who = condition.get("StringEquals", {}).get("aws:userid") or _principal(statement)
        until = condition.get("DateGreaterThanEquals", {}).get("aws:CurrentTime")
        if who and until:
            ends[str(who)] = str(until)
    return ends


def _baseline(account: str, bucket: str, statement: Mapping[str, Any],
              ends: Mapping[str, str]) -> GrantStatus:
    condition = statement.get("Condition", {})
    arns = _listed(condition.get("ArnNotEquals", {}).get("aws:PrincipalArn"))
    sessions = _listed(condition.get("StringNotEquals", {}).get("aws:userid"))

    def shown(who: str, label: str) -> str:
        until = ends.get(who)
        return f"{label}{who} (its grants only, until {until})" if until else f"{label}{who}"

    return GrantStatus(
        account=account, policy_arn="", request_id=None,
        principal=f"read-only baseline of policy {bp.baseline_policy_of(statement['Sid'])}",
        expiry=None, access=(), problems=(), bucket=bucket,
        exempts=(*(shown(a, "") for a in arns), *(shown(s, "session ") for s in sessions)))


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _principal(statement: Mapping[str, Any]) -> str | None:
    principal = statement.get("Principal")
    aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
    if aws == "*":
        arn_like = statement.get("Condition", {}).get("ArnLike", {})
        return str(arn_like.get("aws:PrincipalArn", "*"))
    return None if aws is None else str(aws)


def _session(statement: Mapping[str, Any]) -> str | None:
    userid = statement.get("Condition", {}).get("StringEquals", {}).get("aws:userid")
    return str(userid).split(":", 1)[-1] if isinstance(userid, str) else None
