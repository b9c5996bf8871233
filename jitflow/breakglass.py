"""Break-glass grants and their post-hoc review, as values. Pure.

A break-glass grant is made on merge without approvals, so its review comes after: one of
the policy's break-glass reviewers must approve the merged pull request by the deadline the
grant recorded when it was made (a later edit of the policy cannot move it). The audit log
says which grants still wait: a `granted` record marked `break_glass`, and no
`break_glass_reviewed` record for the request since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from jitflow.approvals import APPROVED, PullFacts, TeamResolver, is_one_of
from jitflow.audit.record import AuditRecord
from jitflow.clock import parse_time

REVIEWED = "break_glass_reviewed"


@dataclass(frozen=True)
class Due:
    """One break-glass grant whose post-hoc review has not been recorded."""

    request: str
    pr: int | None
    requester: str | None
    merged_by: str | None
    due: datetime
    reviewers: tuple[str, ...]

    def overdue(self, now: datetime) -> bool:
        return now > self.due

    def text(self, now: datetime) -> str:
        state = "OVERDUE since" if self.overdue(now) else "due by"
        pr = f" (pull request #{self.pr})" if self.pr is not None else ""
        return (f"break-glass grant {self.request}{pr}: review {state} {self.due:%Y-%m-%d %H:%M}"
                f" UTC, by one of {', '.join(self.reviewers) or '(no reviewers)'}")


def pending_reviews(records: Iterable[AuditRecord]) -> list[Due]:
    """Every break-glass grant in the log that no review record settled, in log order."""
    waiting: dict[str, Due] = {}
    for record in records:
        if record.request is None:
            continue
        if record.event == REVIEWED:
            waiting.pop(record.request, None)
        elif record.opens_grant and record.break_glass and not record.reconciled \
                and record.request not in waiting:
            # a grant without a deadline (a hand-edited record) is due at once: fail closed
            due = parse_time(record.review_due) if record.review_due else parse_time(record.time)
            waiting[record.request] = Due(record.request, record.pr, record.requester,
                                          record.merged_by, due, tuple(record.reviewers or ()))
    return list(waiting.values())


def review_of(pull: PullFacts, due: Due, teams: TeamResolver) -> tuple[str, datetime] | None:
    """The approving review that settles `due`: the first APPROVED review on the merged pull
    request by one of its reviewers who neither asked for the access, merged it, nor wrote
    part of the change. (login, when) or None."""
    excluded = {name.lower() for name in (due.requester, due.merged_by) if name}
    excluded |= pull.contributors
    for review in pull.reviews:
        login = review.login.lower()
        if review.state.upper() != APPROVED or review.submitted_at is None:
            continue
        if login in excluded or not is_one_of(review.login, due.reviewers, teams):
            continue
        return review.login, review.submitted_at
    return None
