"""The state one engine run shares between its steps: ports, ledger, settings, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field

from jitflow.audit.ledger import Ledger
from jitflow.engine.outcome import Outcome
from jitflow.engine.ports import AccountsPort
from jitflow.model import Settings


@dataclass
class Run:
    accounts: AccountsPort
    ledger: Ledger
    settings: Settings
    dry_run: bool = False
    outcomes: list[Outcome] = field(default_factory=list)

    def done(self, outcome: Outcome) -> Outcome:
        """Note an outcome the caller reports (what `jitflow apply/revoke` print)."""
        self.outcomes.append(outcome)
        return outcome
