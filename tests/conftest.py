"""Shared pytest fixtures. Each section has an owner; add yours in its own delimited section."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openapi_check import served_problems

from jitflow.sandbox.github import FakeGitHub

# ============================================================================================
# fake GitHub: `fake_github`            (owner: the fake GitHub; jitflow/sandbox/github/)
#
# A started FakeGitHub per test (function scope; starting takes about a millisecond). At
# teardown every response it served is validated against GitHub's OpenAPI description
# (tests/openapi_check.py): a response that does not conform, a request to a path the fake does
# not serve, or a failure of the fake itself fails the test. Mark a test
# `@pytest.mark.fake_github_unknown_paths` when it requests unserved paths on purpose.
# Sets nothing global (no environment variables): hand `fake_github.url` to the code under test.
# ============================================================================================

FAKE_GITHUB_UNKNOWN_PATHS = "fake_github_unknown_paths"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FAKE_GITHUB_UNKNOWN_PATHS}: the test requests paths the fake GitHub does not serve",
    )


@pytest.fixture
def fake_github(request: pytest.FixtureRequest) -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    allow_unknown = request.node.get_closest_marker(FAKE_GITHUB_UNKNOWN_PATHS) is not None
    problems = served_problems(fake.served, allow_unknown_paths=allow_unknown)
    problems += [f"the fake GitHub raised:\n{tb}" for tb in fake.errors]
    if problems:
        pytest.fail(
            "the fake GitHub served responses that do not match GitHub's OpenAPI:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


# ============================================================================================
# end of section: fake GitHub
# ============================================================================================
