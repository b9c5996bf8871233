"""How much of each bucket policy's 20 KB a grant would use, from the audit log alone.

`jitflow check` runs before merge, offline: it cannot read the bucket policy. The audit log
records each bucket policy's size after every write jitflow made (`buckets[].policy_bytes`),
so the last record naming a bucket plus what the new grant adds is the estimate; statements
someone else added since are counted at apply, which refuses a policy over the limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from jitflow.audit.record import AuditRecord
from jitflow.bucketpolicy import (
    Budget,
    Exempted,
    baseline_statements,
    granted_resources,
    statements_size,
)
from jitflow.clock import iso
from jitflow.plan import Plan


def last_sizes(records: Iterable[AuditRecord]) -> dict[str, tuple[int, str]]:
    """Bucket -> (its policy's size, when) as the latest record that measured it says."""
    sizes: dict[str, tuple[int, str]] = {}
    for record in records:
        for item in record.buckets or ():
            if item.policy_bytes >= 0:  # < 0: not measured (no write, or a record of an end)
                sizes[item.bucket] = (item.policy_bytes, record.time)
    return sizes


def budgets(plan: Plan, sizes: dict[str, tuple[int, str]]) -> list[Budget]:
    out = []
    for bucket, statements in plan.bucket_statements.items():
        current, when = sizes.get(bucket, (None, None))
        adds = statements_size(statements) + _limits_size(plan, bucket)
        out.append(Budget(bucket, adds, current, when))
    return out


def _limits_size(plan: Plan, bucket: str) -> int:
    """Under enforce_read_only, the two Denies that hold the grantee to its grant."""
    if plan.subject is None or not plan.policy.enforce_read_only:
        return 0
    partition = plan.subject.partition
    actions = {a for e in plan.request.access if e.bucket == bucket for a in e.actions}
    grantee = Exempted(plan.subject, granted_resources(plan.request.access, bucket, partition),
                       tuple(sorted(actions)), iso(plan.expiry))
    return statements_size(
        baseline_statements(plan.policy, bucket, [], [grantee], partition)[1:])
