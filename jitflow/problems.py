"""Validation findings as values, and their three output formats."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about one file. line/col are 1-based; None when unknown."""

    path: str
    line: int | None
    col: int | None
    message: str
    severity: str = "error"

    def text(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"


def _escape_data(value: str) -> str:
    # GitHub's own escaping for workflow-command data: a newline in untrusted text
    # would otherwise start a new command (e.g. ::add-mask:: or ::stop-commands::).
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github_annotation(problem: Problem) -> str:
    props = [f"file={_escape_property(problem.path)}"]
    if problem.line is not None:
        props.append(f"line={problem.line}")
        if problem.col is not None:
            props.append(f"col={problem.col}")
    level = "warning" if problem.severity == "warning" else "error"
    return f"::{level} {','.join(props)}::{_escape_data(problem.message)}"


def render(problems: Iterable[Problem], fmt: str) -> str:
    """Render findings as `text`, `json` or `github`; empty string when there are none."""
    items = sorted(problems, key=lambda p: (p.path, p.line or 0, p.col or 0, p.message))
    if fmt == "json":
        import json  # noqa: PLC0415  (only this format needs it)

        return json.dumps([asdict(p) for p in items], indent=2)
    if fmt == "github":
        return "\n".join(github_annotation(p) for p in items)
    return "\n".join(p.text() for p in items)
