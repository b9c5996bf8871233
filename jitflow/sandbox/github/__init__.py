"""A fake GitHub REST API server: a TEST DOUBLE, not GitHub (`server` says what it serves).

Used by the test suite and by `jitflow demo`. Three modules, by role:

- `state`: what the fake knows (users, orgs, teams, repositories, pull requests, commits,
  reviews, comments, and a repository's files and settings), set from Python;
- `payloads`: the GitHub REST JSON built from that state, one function per OpenAPI schema;
- `server`: routing, the HTTP handler and `FakeGitHub`, which serves the state.

Import the public names from here (`from jitflow.sandbox.github import FakeGitHub`).
"""

from jitflow.sandbox.github.server import (
    COMMENT_MAX_CHARS,
    ROUTES,
    FakeGitHub,
    Route,
    Served,
)
from jitflow.sandbox.github.state import (
    ACTIONS_BOT,
    FakeComment,
    FakeCommit,
    FakeEnvironment,
    FakeFile,
    FakeGitHubError,
    FakeOrg,
    FakeProtection,
    FakePull,
    FakeRepo,
    FakeReview,
    FakeRuleset,
    FakeTeam,
    FakeUser,
)

__all__ = [
    "ACTIONS_BOT",
    "COMMENT_MAX_CHARS",
    "ROUTES",
    "FakeComment",
    "FakeCommit",
    "FakeEnvironment",
    "FakeFile",
    "FakeGitHub",
    "FakeGitHubError",
    "FakeOrg",
    "FakeProtection",
    "FakePull",
    "FakeRepo",
    "FakeReview",
    "FakeRuleset",
    "FakeTeam",
    "FakeUser",
    "Route",
    "Served",
]
