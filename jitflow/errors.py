"""The one error hierarchy. Every error carries a message meant for a person.

The CLI maps these to exit codes in exactly one place (`jitflow.cli.exit_code_for`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitflow.problems import Problem


class JitflowError(Exception):
    """Base class: a failure jitflow can explain to its user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(JitflowError):
    """The command line itself is wrong (bad flag value, missing path)."""


class InvalidInput(JitflowError):
    """One or more files failed validation; `problems` lists every finding."""

    def __init__(self, problems: Sequence[Problem], message: str = "invalid input") -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class ConfigError(JitflowError):
    """Settings, policies or identities cannot be used."""


class Rejected(JitflowError):
    """A request was refused (approvals short, stale, replay...). Nothing was granted."""


class AuditError(JitflowError):
    """The audit log is broken or cannot be written."""


class ExternalError(JitflowError):
    """A service jitflow depends on failed (AWS, GitHub, git). Safe to rerun."""


class AwsError(ExternalError):
    """AWS refused or failed a call."""


class GitHubError(ExternalError):
    """The GitHub API refused or failed a call."""


class GitError(ExternalError):
    """A git command failed."""


class ReviewOverdue(JitflowError):
    """A break-glass grant's post-hoc review is past its deadline: the revoke run did its
    removals and recorded them, then fails so that someone looks."""
