"""How much of each bucket policy's 20 KB a grant would use, from the audit log alone.

`jitflow check` runs before merge, offline: it cannot read the bucket policy. The audit log
records each bucket policy's size after every write jitflow made (`buckets[].policy_bytes`),
so the last record naming a bucket plus what the new grant adds is the estimate; statements
someone else added since are counted at apply, which refuses a policy over the limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from jitflow.audit.record import AuditRecord
from jitflow.bucketpolicy import Budget, statements_size
from jitflow.plan import Plan


def last_sizes(records: Iterable[AuditRecord]) -> dict[str, tuple[int, str]]:
    """Bucket -> (its policy's size, when) as the latest record that measured it says."""
    sizes: dict[str, tuple[int, str]] = {}
    for record in records:
        for item in record.buckets or ():
            if item.policy_bytes > 0:  # 0: not measured (a record written without a write)
                sizes[item.bucket] = (item.policy_bytes, record.time)
    return sizes


def budgets(plan: Plan, sizes: dict[str, tuple[int, str]]) -> list[Budget]:
    out = []
    for bucket, statements in plan.bucket_statements.items():
        current, when = sizes.get(bucket, (None, None))
        out.append(Budget(bucket, statements_size(statements), current, when))
    return out
