"""Grants with a scheduled start (`not_before`) that must not begin. Pure.

Approval and the request TTL are judged at merge; a grant may then wait up to
`rules.NOT_BEFORE_MAX_LEAD` for its start. A person who loses eligibility meanwhile (removed
from policies/identities.yaml, or from the policy's requesters, on the default branch) must
not receive it: the next revoke run ends it, before AWS would let it begin.
"""

from __future__ import annotations

from datetime import datetime

from jitflow.audit.record import AuditRecord
from jitflow.clock import iso
from jitflow.model import PolicySet
from jitflow.rules import eligibility_problem


def lost_before_start(record: AuditRecord, policies: PolicySet | None,
                      now: datetime) -> str | None:
    """Why the grant `record` opened must end before its start, or None: it has started (or
    never had a scheduled start), no default-branch policies to judge by, or its person is
    still eligible."""
    if policies is None or record.starts is None or record.starts <= iso(now):
        return None
    session = record.session if record.in_bucket_policy else None
    reason = eligibility_problem(record.requester or "", record.principal or "",
                                 policies.policy_of(record.request or ""), policies, session)
    if reason is None:
        return None
    return f"lost eligibility before its start at {record.starts}: {reason}"
