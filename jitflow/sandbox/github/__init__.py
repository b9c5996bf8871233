"""A fake GitHub REST API server: a TEST DOUBLE, not GitHub (see `server` for what it serves).

Used by the test suite and by `jitflow demo`. The public names are re-exported here; import them
from `jitflow.sandbox.github`, not from the modules inside.
"""

from jitflow.sandbox.github.server import (
    ACTIONS_BOT,
    COMMENT_MAX_CHARS,
    ROUTES,
    FakeComment,
    FakeCommit,
    FakeFile,
    FakeGitHub,
    FakeGitHubError,
    FakeOrg,
    FakePull,
    FakeRepo,
    FakeReview,
    FakeTeam,
    FakeUser,
    Route,
    Served,
)

__all__ = [
    "ACTIONS_BOT",
    "COMMENT_MAX_CHARS",
    "ROUTES",
    "FakeComment",
    "FakeCommit",
    "FakeFile",
    "FakeGitHub",
    "FakeGitHubError",
    "FakeOrg",
    "FakePull",
    "FakeRepo",
    "FakeReview",
    "FakeTeam",
    "FakeUser",
    "Route",
    "Served",
]
