"""The team-membership snapshot: who was in each approver team, and when jitflow looked.

`jitflow check` runs in a workflow a pull request can edit, so it holds no secret, and the
Actions token cannot read an organisation's teams. jitflow apply and revoke, which run only
on the default branch and read teams with a token kept in AWS Secrets Manager, write what
they read to `teams.json` at the root of the audit branch; the check counts team approvals
from it and says as of when. apply verifies every approval live again before it grants.

The file (UTF-8 JSON, written sorted so that an unchanged membership makes no commit):

    {"version": 1,
     "taken_at": "2026-12-01T10:07:12Z",
     "by": "https://github.com/acme/access/actions/runs/42",
     "teams": {"acme/data-platform": ["dora", "erin"], "acme/security": [],
               "acme/typo": null}}

Team keys are `org/slug` and logins are lower case (GitHub compares both without case);
`null` is a team GitHub said does not exist (404) when the snapshot was taken.
Pure: values in, values out; the time comes from the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jitflow.clock import iso, parse_time
from jitflow.errors import JitflowError
from jitflow.model import PolicySet

SNAPSHOT_FILE = "teams.json"  # at the root of the audit branch, beside the audit directory
VERSION = 1
# An unchanged membership is written again after this long, so the check's "as of" stays
# recent (one commit a day at most) without a commit on every revoke run.
REFRESH_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class TeamSnapshot:
    """Active members of each team, as one apply or revoke run read them."""

    taken_at: datetime
    by: str  # the run that took it
    # "org/slug" (lower case) -> logins (lower case); None: GitHub has no such team
    teams: Mapping[str, frozenset[str] | None]

    def is_active_member(self, org: str, team_slug: str, login: str) -> bool:
        """`jitflow.approvals.TeamResolver`: a team the snapshot lacks has no members."""
        return login.lower() in (self.teams.get(team_key(org, team_slug)) or frozenset())

    def team_exists(self, org: str, team_slug: str) -> bool | None:
        """`jitflow.approvals.TeamResolver`: False for a team GitHub said does not exist;
        None for one the snapshot does not cover (taken before a policy named it)."""
        key = team_key(org, team_slug)
        return None if key not in self.teams else self.teams[key] is not None

    def covers(self, keys: Iterable[str]) -> bool:
        return set(keys) <= set(self.teams)

    def same_members(self, other: TeamSnapshot) -> bool:
        return dict(self.teams) == dict(other.teams)

    def render(self) -> bytes:
        document = {
            "version": VERSION,
            "taken_at": iso(self.taken_at),
            "by": self.by,
            "teams": {key: None if members is None else sorted(members)
                      for key, members in sorted(self.teams.items())},
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


class SnapshotError(JitflowError):
    """teams.json cannot be read (the check then counts no team approval)."""


def team_key(org: str, team_slug: str) -> str:
    return f"{org}/{team_slug}".lower()


def teams_named(policies: PolicySet) -> list[tuple[str, str]]:
    """Every `@org/team` the policies name as approvers or requesters: (org, slug), sorted."""
    found: set[tuple[str, str]] = set()
    for policy in policies.policies.values():
        for entry in (*policy.approvers, *(policy.requesters or ())):
            if entry.startswith("@") and "/" in entry:
                org, _, slug = entry[1:].partition("/")
                found.add((org.lower(), slug.lower()))
    return sorted(found)


def take(members: Mapping[tuple[str, str], Iterable[str] | None], *, at: datetime, by: str
         ) -> TeamSnapshot:
    """A snapshot of `members` ((org, slug) -> logins, or None for a team GitHub does not
    know) taken at `at` by the run `by`."""
    return TeamSnapshot(at, by, {
        team_key(org, slug): None if logins is None else frozenset(m.lower() for m in logins)
        for (org, slug), logins in members.items()})


def needs_writing(old: TeamSnapshot | None, new: TeamSnapshot) -> bool:
    """Write `new` when the membership changed, or when `old` is due for a refresh."""
    return old is None or not old.same_members(new) or new.taken_at - old.taken_at >= REFRESH_AFTER


def parse(raw: bytes, where: str) -> TeamSnapshot:
    """teams.json read strictly: anything unexpected is a SnapshotError naming `where`."""
    try:
        document: Any = json.loads(raw.decode("utf-8"))
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} snapshot")
        teams = document["teams"]
        if not isinstance(teams, dict) or not all(
            isinstance(key, str) and (logins is None or (isinstance(logins, list)
                                      and all(isinstance(login, str) for login in logins)))
            for key, logins in teams.items()
        ):
            raise ValueError("teams must map org/slug to a list of logins (or null)")
        return TeamSnapshot(
            parse_time(str(document["taken_at"])), str(document.get("by", "")),
            {key.lower(): None if logins is None else frozenset(login.lower() for login in logins)
             for key, logins in teams.items()})
    except (ValueError, KeyError, UnicodeDecodeError, JitflowError) as error:
        message = error.message if isinstance(error, JitflowError) else str(error)
        raise SnapshotError(f"{where}: not a team-membership snapshot jitflow wrote: "
                            f"{message}") from None
