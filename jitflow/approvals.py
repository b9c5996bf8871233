"""Approval rules: does a pull request carry the reviews its request's policy needs?

Pure: takes facts about a pull request (gathered by `jitflow.gh`) and a team resolver, returns an
`ApprovalStatus`. `jitflow check` and `jitflow apply` both call `evaluate`, so the PR check and the
apply-time re-verification can never disagree.

Rules, failing closed on anything unknown:
- Each reviewer's *latest* review decides. `COMMENTED` and `PENDING` reviews are skipped when
  picking it, as GitHub does (a comment after an approval keeps the approval); `DISMISSED` cancels
  the reviewer's earlier approval or change request; any other unknown state also cancels it.
- An `APPROVED` review counts when it was made on the PR's head commit (a `null` or older
  `commit_id` does not count), its reviewer is not the PR author, did not author, commit or
  co-author any PR commit, and is one of the policy's approvers: a login (case-insensitive) or an
  active member of an `@org/team`.
- A latest `CHANGES_REQUESTED` from an approver blocks, whatever commit it was made on, until it is
  dismissed or replaced by an approval.
- At least `min_approvals` (never fewer than one) distinct reviewers must count.
- An `@org/team` approver that GitHub says does not exist fails the approval whatever the
  reviews: it is a typo that leaves the policy's intended approvers out, and a team name anyone
  with the right to create teams could later claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from jitflow.model import Policy

APPROVED = "APPROVED"
CHANGES_REQUESTED = "CHANGES_REQUESTED"
COMMENTED = "COMMENTED"
DISMISSED = "DISMISSED"
PENDING = "PENDING"

# States that never change a reviewer's standing: a comment-only review, an unsubmitted draft.
_NEUTRAL_STATES = frozenset({COMMENTED, PENDING})


@dataclass(frozen=True)
class Review:
    """One submitted pull-request review, as GitHub lists it."""

    login: str
    state: str
    commit_id: str | None
    submitted_at: datetime | None


@dataclass(frozen=True)
class PullFacts:
    """What the approval rules (and apply) need to know about one pull request."""

    number: int
    author: str
    head_sha: str
    base_sha: str
    created_at: datetime
    merged: bool
    merged_at: datetime | None
    merge_commit_sha: str | None
    # Lower-cased logins of every PR commit's author/committer and co-authors, plus unmapped
    # co-author names and e-mails (lower-cased): anyone here wrote part of the change.
    contributors: frozenset[str]
    reviews: tuple[Review, ...]  # chronological, as GitHub returns them
    merged_by: str | None = None  # the login that merged it (None: not merged, or unknown)


@dataclass(frozen=True)
class OpenPull:
    """An open pull request into the default branch (`GET /repos/{o}/{r}/pulls`)."""

    number: int
    author: str
    head_sha: str
    draft: bool


@dataclass(frozen=True)
class PullSummary:
    """A pull request associated with a commit (`GET /repos/{o}/{r}/commits/{sha}/pulls`)."""

    number: int
    merged: bool
    merge_commit_sha: str | None
    head_sha: str
    created_at: datetime
    merged_at: datetime | None


class TeamResolver(Protocol):
    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        """True only when `login` is an *active* (not pending) member of the team."""
        ...

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        """False only when GitHub says the team does not exist; None when it cannot tell
        (the token may not read the organisation's teams)."""
        ...


@dataclass(frozen=True)
class ApprovalStatus:
    approved_by: tuple[str, ...]
    needed: int
    blocked_by: tuple[str, ...]
    ignored: tuple[tuple[str, str], ...]  # (login, why it did not count)
    approvers: tuple[str, ...]  # the policy's approvers, for messages
    # a break-glass request: `approved_by` is who merged it, and the review comes after
    break_glass: bool = False
    missing_teams: tuple[str, ...] = ()  # approver teams GitHub says do not exist

    @property
    def ok(self) -> bool:
        return (len(self.approved_by) >= self.needed and not self.blocked_by
                and not self.missing_teams)

    def summary(self) -> str:
        """One line with the count, then one line per blocker and per review that did not count."""
        owners = ", ".join(self.approvers) or "(no approvers)"
        if self.break_glass:
            return self._break_glass_summary(owners)
        lines = [f"approvals: {len(self.approved_by)} of {self.needed} from {owners}"]
        if self.approved_by:
            lines.append("approved by: " + ", ".join(f"@{login}" for login in self.approved_by))
        lines.extend(f"blocked: @{login} requested changes" for login in self.blocked_by)
        lines.extend(f"blocked: approver team {team} does not exist (or the teams token cannot "
                     "see it): an admin must fix the policy's approvers" for team in
                     self.missing_teams)
        lines.extend(f"not counted: @{login}: {why}" for login, why in self.ignored)
        return "\n".join(lines)


    def _break_glass_summary(self, people: str) -> str:
        lines = ["BREAK-GLASS: granted on merge without approvals, only if merged by one of "
                 f"{people}; reviewed after the fact"]
        lines.extend(f"merged by: @{login}" for login in self.approved_by)
        lines.extend(f"not counted: merged by @{login}: {why}" for login, why in self.ignored)
        return "\n".join(lines)


def judge(pull: PullFacts, policy: Policy, teams: TeamResolver, *,
          break_glass: bool = False) -> ApprovalStatus:
    """The rule a request is held to: the policy's approvals, or the break-glass merge rule
    (which `jitflow.rules.break_glass_problems` admits only under a policy that opts in)."""
    if break_glass and policy.break_glass is not None:
        return break_glass_status(pull, policy, teams)
    return evaluate(pull, policy, teams)


def is_one_of(login: str, entries: tuple[str, ...], teams: TeamResolver) -> bool:
    logins, team_list = _split_approvers(entries)
    return login.lower() in logins or any(
        teams.is_active_member(org, slug, login) for org, slug in team_list)


def break_glass_status(pull: PullFacts, policy: Policy, teams: TeamResolver) -> ApprovalStatus:
    """A break-glass request needs no approving review, only the right hands on the merge:
    one of the policy's requesters or approvers must merge it (branch protection decides
    whether anyone may merge without a review; jitflow never bypasses it). Before the merge
    (the PR check) nothing is needed yet; at the merge, the merger is the one "approval",
    and a merger jitflow cannot name counts as nobody (fail closed)."""
    people = (*(policy.requesters or ()), *policy.approvers)
    if not pull.merged:
        return ApprovalStatus((), 0, (), (), people, break_glass=True)
    merger = pull.merged_by
    if merger and is_one_of(merger, people, teams):
        return ApprovalStatus((merger,), 1, (), (), people, break_glass=True)
    why = "is not among the policy's requesters or approvers" if merger else \
        "GitHub did not say who merged it"
    return ApprovalStatus((), 1, (), ((merger or "-", why),), people, break_glass=True)


def _split_approvers(approvers: tuple[str, ...]) -> tuple[set[str], list[tuple[str, str]]]:
    """Approver entries -> (lower-cased logins, [(org, team_slug)])."""
    logins: set[str] = set()
    teams: list[tuple[str, str]] = []
    for entry in approvers:
        name = entry.strip()
        if name.startswith("@") and "/" in name:
            org, _, slug = name[1:].partition("/")
            if org and slug:
                teams.append((org, slug))
        elif name:
            logins.add(name.removeprefix("@").lower())
    return logins, teams


def _latest_reviews(reviews: tuple[Review, ...]) -> dict[str, Review]:
    """Each reviewer's deciding review, keyed by lower-cased login, in first-review order."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state.upper() in _NEUTRAL_STATES:
            continue
        latest[review.login.lower()] = review
    return latest


def _not_counted(review: Review, pull: PullFacts, author: str) -> str | None:
    """Why an APPROVED review does not count whoever made it, or None."""
    key = review.login.lower()
    if key == author:
        return "self-approval by the PR author"
    if key in pull.contributors:
        return "pushed or co-authored a commit in this PR"
    if review.commit_id is None:
        return "approved an unknown commit"
    if review.commit_id != pull.head_sha:
        return f"approved an older commit {review.commit_id[:7]}"
    return None


def missing_teams(approvers: tuple[str, ...], teams: TeamResolver) -> tuple[str, ...]:
    """The `@org/team` approvers that GitHub says do not exist (each asked once)."""
    _logins, team_list = _split_approvers(approvers)
    unique: dict[tuple[str, str], tuple[str, str]] = {}
    for org, slug in team_list:
        unique.setdefault((org.lower(), slug.lower()), (org, slug))
    return tuple(f"@{org}/{slug}" for org, slug in unique.values()
                 if teams.team_exists(org, slug) is False)


def evaluate(pull: PullFacts, policy: Policy, teams: TeamResolver) -> ApprovalStatus:
    """Decide whether `pull` is approved for a request under `policy`."""
    logins, team_list = _split_approvers(policy.approvers)
    author = pull.author.lower()
    membership: dict[str, bool] = {}

    def is_approver(login: str) -> bool:
        key = login.lower()
        if key in logins:
            return True
        if key not in membership:
            # Only asked for reviewers who would count or block: team look-ups cost API calls.
            membership[key] = any(
                teams.is_active_member(org, slug, login) for org, slug in team_list
            )
        return membership[key]

    approved: list[str] = []
    blocked: list[str] = []
    ignored: list[tuple[str, str]] = []
    for review in _latest_reviews(pull.reviews).values():
        login = review.login
        state = review.state.upper()
        if state == DISMISSED:
            ignored.append((login, "review dismissed"))
            continue
        if state == CHANGES_REQUESTED:
            if is_approver(login):
                blocked.append(login)
            else:
                ignored.append((login, "requested changes but is not an approver"))
            continue
        if state != APPROVED:
            ignored.append((login, f"unknown review state {review.state!r}"))
            continue
        why = _not_counted(review, pull, author) or (
            None if is_approver(login) else "not an approver of policy " + repr(policy.name)
            + (" (nor an active member of its teams)" if team_list else ""))
        if why:
            ignored.append((login, why))
        else:
            approved.append(login)
    return ApprovalStatus(
        approved_by=tuple(approved),
        needed=max(1, policy.min_approvals),  # zero approvals would grant on nobody's word
        blocked_by=tuple(blocked),
        ignored=tuple(ignored),
        approvers=tuple(policy.approvers),
        missing_teams=missing_teams(policy.approvers, teams),
    )
