"""Deleting a request file: may this pull request end that grant early? Pure.

A deletion changes someone's access, so it is judged like a grant, against the *base* branch:
- by the request's own requester (the file at the base names the PR author): allowed, no
  approval needed; they give their own access back;
- by anyone else: the approvals the request's policy needs, under the same rules as a grant
  (`jitflow.approvals.evaluate`);
- a file that cannot be read or parsed at the base names nobody: its deletion needs its
  policy's approvals; with the policy gone from the base too, nobody can approve it, and it is
  refused (fail closed).

`judge_deletion` is the one place that decides. `check_changes` calls it for every deleted
request file, so `jitflow check` (before the merge) and `jitflow apply` (re-verifying the merge
against its first parent) can never judge a deletion differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from jitflow.approvals import ApprovalStatus, PullFacts, TeamResolver, evaluate
from jitflow.loader import load_request
from jitflow.model import Policy, PolicySet
from jitflow.problems import Problem


@dataclass(frozen=True)
class Deletion:
    """A deleted request file and whether its deletion may end the grant."""

    request_id: str
    path: str
    policy_name: str
    requester: str | None  # who the file at the base names; None: unreadable there
    own: bool  # the pull request's author is that requester
    policy: Policy | None  # the base branch's policy of the request's folder
    approvals: ApprovalStatus | None = None  # evaluated when needed and the PR is known

    @property
    def refused(self) -> bool:
        """No approval can allow it: not the requester's own, and no policy to approve it."""
        return not self.own and self.policy is None

    @property
    def allowed(self) -> bool:
        """May the grant end: the requester's own deletion, or approved under the policy."""
        return self.own or (
            self.policy is not None and self.approvals is not None and self.approvals.ok
        )

    @property
    def whose(self) -> str:
        if self.requester is None:
            return "a request that cannot be read on the base branch"
        return f"{self.requester}'s request"

    def needs(self) -> str:
        """What would allow it: "needs N approval(s) from …", or why nothing can."""
        if self.policy is None:
            return (f"is refused: policy {self.policy_name} is not on the base branch, so "
                    "nobody can approve it")
        owners = ", ".join(self.policy.approvers) or "(no approvers)"
        return f"needs {max(1, self.policy.min_approvals)} approval(s) from {owners}"

    def why_not(self) -> str:
        """Why it is not allowed (one line), for a problem, a record and a comment."""
        text = f"deleting {self.path} ends {self.whose} ({self.request_id}) and {self.needs()}"
        if self.approvals is not None and not self.refused:
            text += "; " + "; ".join(self.approvals.summary().splitlines())
        return text

    def problem(self) -> Problem | None:
        """The check's finding on the deleted path: a refused deletion, or one whose approvals
        were checked and fall short (unchecked approvals, in a local run, are no finding)."""
        if self.allowed or (self.approvals is None and not self.refused):
            return None
        return Problem(self.path, 1, None, self.why_not())

    def note(self) -> str | None:
        """What reviewers read about an allowed (or not yet judged) deletion."""
        if self.own:
            return (f"deleting {self.path} means an early revoke of {self.request_id} after "
                    f"merge: {self.requester} gives their own access back (no approval needed)")
        if self.allowed:
            return (f"deleting {self.path} means an early revoke of {self.whose} "
                    f"({self.request_id}) after merge, approved under policy {self.policy_name}")
        if self.problem() is None:
            return (f"deleting {self.path} would early-revoke {self.whose} "
                    f"({self.request_id}): it {self.needs()} (approvals not checked here)")
        return None


def requester_at_base(raw: bytes | None, path: str) -> str | None:
    """The requester the deleted file names at the base, or None when it cannot be read or
    parsed (strictly, as any request file is read)."""
    if raw is None:
        return None
    request, _problems = load_request(raw, path)
    return None if request is None else request.requester


def judge_deletion(
    request_id: str,
    path: str,
    raw: bytes | None,
    author: str,
    policies: PolicySet,
    *,
    pull: PullFacts | None = None,
    teams: TeamResolver | None = None,
) -> Deletion:
    """Decide whether `author`'s pull request may delete `path` (the file's bytes at the base
    are `raw`, None when it is not there); `policies` are the base branch's. Approvals are
    evaluated only when they are needed and `pull` and `teams` are given."""
    requester = requester_at_base(raw, path)
    own = requester is not None and requester.lower() == author.lower()
    name = request_id.split("/", 1)[0]
    policy = policies.policies.get(name)
    approvals = None
    if not own and policy is not None and pull is not None and teams is not None:
        approvals = evaluate(pull, policy, teams)
    return Deletion(request_id, path, name, requester, own, policy, approvals)
