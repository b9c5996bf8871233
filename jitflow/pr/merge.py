"""Apply-time re-verification of a merge: the PR, its checks and its reviews, before any AWS call.

Branch protection should already have enforced all of this; jitflow checks again, on its own,
so a misconfigured protection, an admin bypass or a review on an older commit never turns into
AWS access. Pure: the GitHub facts come in through a `PullSource`, git through `Git`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from jitflow.approvals import PullFacts, PullSummary, TeamResolver
from jitflow.clock import iso
from jitflow.engine import Approval
from jitflow.errors import GitError, Rejected
from jitflow.model import Policy, Request
from jitflow.pr.check import CheckResult, check_changes

if TYPE_CHECKING:
    from jitflow.gitcmd import Git


class PullSource(TeamResolver, Protocol):
    def pulls_for_commit(self, sha: str) -> list[PullSummary]: ...
    def pull_facts(self, number: int) -> PullFacts: ...


@dataclass(frozen=True)
class VerifiedMerge:
    """What a pushed commit is allowed to do: grant `result.requests` (each once approved),
    revoke each of `result.deletions` that is `allowed`."""

    sha: str
    base: str
    pull: PullFacts
    result: CheckResult
    merged_at: datetime  # when GitHub says it merged (else when apply first saw it)

    def approval_for(self, request: Request, policy: Policy) -> Approval:
        """`ApprovalSource` for the engine: evidence for one verified request, or Rejected."""
        if request.id not in {r.id for r in self.result.requests}:
            raise Rejected(f"{request.id} was not added by pull request #{self.pull.number}")
        status = self.result.approvals.get(request.id)
        if status is None or not status.ok:
            summary = status.summary() if status else "no approval status"
            raise Rejected(f"{request.id}: not approved: {summary}")
        if status.break_glass and policy.break_glass is not None:
            merged = self.pull.merged_at or self.merged_at
            return Approval(request.id, (), self.pull.number, self.sha,
                            merged_by=status.approved_by[0],
                            review_due=iso(merged + policy.break_glass.review_within),
                            reviewers=policy.break_glass.reviewers)
        return Approval(request.id, tuple(status.approved_by), self.pull.number, self.sha)


def merged_pull(pulls: Sequence[PullSummary], sha: str) -> PullSummary:
    """The merged PR whose merge commit is `sha` (merge, squash and rebase all record it so)."""
    for pull in pulls:
        if pull.merged and pull.merge_commit_sha == sha:
            return pull
    if not pulls:
        raise Rejected(
            f"commit {sha[:12]} was not introduced by a pull request (a direct "
            "push?): nothing is granted"
        )
    numbers = ", ".join(f"#{p.number}" for p in pulls)
    raise Rejected(
        f"commit {sha[:12]} is not the merge commit of a merged pull request "
        f"(associated: {numbers}): nothing is granted"
    )


def diff_base(git: Git, sha: str, before: str | None, commits_in_pull: int) -> str:
    """The commit the merge is compared with.

    A merge commit: its first parent. A squash: its only parent. A rebase merge of N commits:
    the push's `before`, which must then be exactly N first-parent steps back — anything else
    means the push carried more than this pull request, and is refused.
    """
    parents = git.parents(sha)
    if len(parents) != 1:
        if not parents:
            raise Rejected(f"commit {sha[:12]} has no parent: nothing to compare it with")
        return parents[0]
    if before and set(before) != {"0"} and before != parents[0]:
        steps = git.run("rev-list", "--first-parent", "--count", f"{before}..{sha}").strip()
        if steps != str(commits_in_pull):
            raise Rejected(
                f"the push {before[:12]}..{sha[:12]} holds {steps} commits but the "
                f"pull request has {commits_in_pull}: nothing is granted"
            )
        return before
    return parents[0]


def verify_merge(
    git: Git,
    sha: str,
    source: PullSource,
    *,
    before: str | None,
    now: datetime,
    request_ttl: timedelta,
) -> VerifiedMerge:
    """Re-verify everything about the merge of `sha`; raises Rejected with the reason."""
    summary = merged_pull(source.pulls_for_commit(sha), sha)
    pull = source.pull_facts(summary.number)
    if not pull.merged:
        raise Rejected(f"pull request #{pull.number} is not merged: nothing is granted")
    merged_at = pull.merged_at or summary.merged_at or now
    if merged_at - pull.created_at > request_ttl:
        raise Rejected(
            f"pull request #{pull.number} was opened {pull.created_at:%Y-%m-%d %H:%M} "
            f"UTC, more than {request_ttl} before its merge: stale, file a new one"
        )
    commits = (
        int(git.run("rev-list", "--count", f"{pull.base_sha}..{pull.head_sha}").strip())
        if _known(git, pull.base_sha) and _known(git, pull.head_sha)
        else 1
    )
    base = diff_base(git, sha, before, commits)
    result = check_changes(git, base, sha, pull.author, applied_at=now, pull=pull, teams=source)
    if result.merge_errors:  # a deletion's verdict is apply's to act on, request by request
        shown = "; ".join(p.text() for p in result.merge_errors[:5])
        raise Rejected(f"pull request #{pull.number} does not pass the check at merge: {shown}")
    return VerifiedMerge(sha, base, pull, result, merged_at)


def _known(git: Git, ref: str) -> bool:
    try:
        git.rev_parse(ref)
    except GitError:  # the PR's own commits were not fetched
        return False
    return True


class MergeHistorySource:
    """`ApprovalSource` for reconcile: a grant found in AWS without its audit record (a run
    died between AWS and the log) is kept only when the merge that added its request file on
    the default branch verifies again, exactly as `jitflow apply` verified it."""

    def __init__(self, git: Git, ref: str, pulls: PullSource, *, now: datetime,
                 request_ttl: timedelta) -> None:
        self.git, self.ref, self.pulls = git, ref, pulls
        self.now, self.request_ttl = now, request_ttl

    def approval_for(self, request: Request, policy: Policy) -> Approval:
        added = self.git.run("log", "--first-parent", "--diff-filter=A", "--format=%H",
                             self.ref, "--", request.path).split()
        if not added:
            raise Rejected(f"{request.path} was not added on {self.ref} by any merge")
        merge = verify_merge(self.git, added[0], self.pulls, before=None, now=self.now,
                             request_ttl=self.request_ttl)
        return merge.approval_for(request, policy)
