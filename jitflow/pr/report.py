"""The check's Markdown: the job summary and the sticky PR comment reviewers read. Pure."""

from __future__ import annotations

from jitflow import markdown
from jitflow.model import Policy
from jitflow.plan import approvals_needed, render_markdown
from jitflow.pr.check import COMMENT_MARKER, CheckResult
from jitflow.pr.deletion import Deletion
from jitflow.problems import Problem


def verdict(result: CheckResult) -> str:
    if result.errors:
        return f"failed: {len(result.errors)} problem(s)"
    if not result.touches_requests:
        return "no request changed"
    if not result.approved:
        return "waiting for approvals"
    judged = result.requests or any(not d.own for d in result.deletions)
    if not result.approvals_checked and judged:
        return "valid (approvals not checked: no pull request)"
    return "passed"


def render_report(result: CheckResult, *, marker: str = COMMENT_MARKER) -> str:
    """The Markdown for the job summary and the sticky PR comment (marker first)."""
    icon = ":white_check_mark:" if result.ok else ":x:"
    out = [marker, f"## {icon} jitflow check: {verdict(result)}", ""]
    if result.problems:
        out += ["**Problems**", ""]
        out += [
            f"- `{markdown.text(p.path)}`{_line(p)}: {markdown.text(p.message)}"
            for p in result.problems
        ]
        out.append("")
    if result.notes:
        out += ["**Notes**", ""] + [f"- {markdown.text(n)}" for n in result.notes] + [""]
    for deletion in result.deletions:
        out += _deletion(deletion)
    for plan in result.plans:
        status = result.approvals.get(plan.request.id)
        if status is not None:
            mark = ":rotating_light:" if status.break_glass else \
                ":white_check_mark:" if status.ok else ":hourglass:"
            lines = status.summary().splitlines()
            out += [
                f"{mark} **{markdown.text(lines[0])}** for `{markdown.text(plan.request.id)}`",
                "",
            ]
            out += [f"- {markdown.text(line)}" for line in lines[1:]]
            out.append("")
        out += [how_to_approve(plan.policy), ""]
        out.append(render_markdown(plan, result.budgets.get(plan.request.id, ())))
    return "\n".join(out).rstrip() + "\n"


def how_to_approve(policy: Policy) -> str:
    """One line for an approver: what counts as an approval of this request."""
    return (f"**To approve:** this request {markdown.text(approvals_needed(policy))}: in "
            "*Files changed*, *Review changes* → *Approve* on the latest commit (a review by "
            "the author, by anyone who pushed to this branch, or on an older commit does not "
            "count).")


def _deletion(deletion: Deletion) -> list[str]:
    """What deleting another person's request needs, and the approvals it has."""
    if deletion.own:
        return []
    if deletion.allowed:
        mark, head = ":white_check_mark:", "is approved"
    else:
        mark = ":no_entry:" if deletion.refused else ":hourglass:"
        head = deletion.needs()
    lines = [f"{mark} Deleting {markdown.code(deletion.request_id)} "
             f"({markdown.text(deletion.whose)}) **{markdown.text(head)}**", ""]
    if deletion.approvals is not None:
        lines += [f"- {markdown.text(line)}" for line in deletion.approvals.summary().splitlines()]
        lines.append("")
    return lines


def _line(problem: Problem) -> str:
    return f" line {problem.line}" if problem.line is not None else ""
