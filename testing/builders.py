"""Builders for the values tests need again and again: policies, requests, PR facts, reviews.

Each takes keyword overrides on top of one set of defaults, so a test names only what it is
about.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from jitflow.approvals import APPROVED, PullFacts, Review
from jitflow.engine import Approval
from jitflow.errors import Rejected
from jitflow.model import AccessEntry, Policy, Request

ACCOUNT = "123456789012"  # moto's default account
HEAD = "h" * 40
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def make_policy(**overrides: Any) -> Policy:
    """A small valid policy (`data-fix` on bucket `b`, prefix `p/`, one approver)."""
    base = Policy(
        name="data-fix",
        description="",
        account=ACCOUNT,
        buckets=("b",),
        prefixes=("p/",),
        actions=("s3:PutObject",),
        max_duration=timedelta(hours=4),
        approvers=("erin",),
    )
    return replace(base, **overrides)


def make_request(**overrides: Any) -> Request:
    """A valid request of `make_policy()`'s shape, by alice for her role."""
    base = Request(
        policy="data-fix",
        name="fix",
        requester="alice",
        principal=f"arn:aws:iam::{ACCOUNT}:role/alice-data",
        reason="Backfill the partition after job 4411 failed",
        ticket=None,
        duration=timedelta(hours=2),
        access=(AccessEntry("b", "p/2026/", ("s3:PutObject",)),),
        path="requests/data-fix/fix.yaml",
    )
    return replace(base, **overrides)


def review(login: str, state: str = APPROVED, commit: str | None = HEAD,
           at: datetime = T0, minute: int = 0) -> Review:
    return Review(login, state, commit, at + timedelta(minutes=minute))


def pull_facts(*reviews: Review, author: str = "alice", head: str = HEAD,
               contributors: tuple[str, ...] = (), created_at: datetime = T0) -> PullFacts:
    """An open pull request by `author` with `reviews` (oldest first)."""
    return PullFacts(
        number=7,
        author=author,
        head_sha=head,
        base_sha="b" * 40,
        created_at=created_at,
        merged=False,
        merged_at=None,
        merge_commit_sha=None,
        contributors=frozenset({author.lower(), *contributors}),
        reviews=tuple(reviews),
    )


class Teams:
    """A TeamResolver over fixed memberships; records every question asked. Every team
    exists except those named in `missing` ("org/slug")."""

    def __init__(self, members: dict[str, set[str]] | None = None,
                 missing: frozenset[str] = frozenset()) -> None:
        self.members = members or {}  # "org/slug" -> active lower-cased logins
        self.missing = missing
        self.calls: list[tuple[str, str, str]] = []

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        self.calls.append((org, team_slug, login))
        return login.lower() in self.members.get(f"{org}/{team_slug}", set())

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        return f"{org}/{team_slug}" not in self.missing


class Approvals:
    """An ApprovalSource: approves the ids in `approved` (all when None); refuses the rest."""

    def __init__(self, approved: set[str] | None = None, approver: str = "erin") -> None:
        self.approved = approved
        self.approver = approver
        self.asked: list[str] = []

    def approval_for(self, request: Request, policy: Policy) -> Approval:
        self.asked.append(request.id)
        if self.approved is not None and request.id not in self.approved:
            raise Rejected(f"{request.id}: not approved")
        return Approval(request.id, (self.approver,), 7, "c" * 40)
