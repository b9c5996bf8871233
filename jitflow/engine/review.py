"""The post-hoc review of break-glass grants, for the revoke run: record each review that
arrived, and report the grants whose review is overdue (the run then fails loudly)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from jitflow.approvals import PullFacts, TeamResolver
from jitflow.audit.ledger import Ledger
from jitflow.breakglass import REVIEWED, Due, pending_reviews, review_of
from jitflow.clock import iso


class PullReader(TeamResolver, Protocol):
    def pull_facts(self, number: int) -> PullFacts: ...


def settle_reviews(ledger: Ledger, pulls: PullReader | None, now: datetime) -> list[Due]:
    """Record a `break_glass_reviewed` record for each waiting grant whose merged PR now
    carries a reviewer's approval; return the ones still waiting past their deadline.
    Without GitHub (`pulls` None) nothing can be settled: every deadline passed is overdue."""
    overdue: list[Due] = []
    for due in pending_reviews(ledger.load()):
        found = review_of(pulls.pull_facts(due.pr), due, pulls) \
            if pulls is not None and due.pr is not None else None
        if found is None:
            if due.overdue(now):
                overdue.append(due)
            continue
        reviewer, at = found
        late = f" after its deadline {iso(due.due)}" if at > due.due else ""
        ledger.record(REVIEWED, now, request=due.request, pr=due.pr,
                      break_glass={"reviewer": reviewer},
                      reason=f"approved by @{reviewer} at {iso(at)}{late}")
    return overdue
