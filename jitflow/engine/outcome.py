"""What the engine reports: one Outcome per step, one GrantStatus per grant. Values only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Outcome:
    """What one step did (or, in a dry run, would do) to one grant."""

    # granted unchanged reconciled expired early_revoked orphan_revoked revoked rejected
    # cleaned kept none
    action: str
    request_id: str
    account: str
    policy_arn: str = ""
    detail: str = ""
    dry_run: bool = False
    buckets: tuple[str, ...] = ()  # a bucket-policy grant: the bucket policies it is in

    def text(self) -> str:
        verb = f"would {self.action}" if self.dry_run else self.action
        where = f" {self.policy_arn}" if self.policy_arn else f" in {self.account}"
        if self.buckets:
            where = f" in the bucket policy of {', '.join(self.buckets)}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{verb}: {self.request_id or '-'}{where}{detail}"


@dataclass(frozen=True)
class GrantStatus:
    """One grant as `jitflow status` shows it: a /jitflow/ IAM policy, a grant's statements
    in one bucket policy, or a bucket's read-only baseline (`exempts` lists who it lets
    write)."""

    account: str
    policy_arn: str
    request_id: str | None
    principal: str | None
    expiry: datetime | None
    access: tuple[tuple[str, tuple[str, ...]], ...]  # (resource, actions) of each Allow
    problems: tuple[str, ...]
    bucket: str | None = None
    session: str | None = None
    exempts: tuple[str, ...] = ()
