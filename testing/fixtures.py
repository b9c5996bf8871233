"""The pytest fixtures every test module may use, registered once in tests/conftest.py
(`pytest_plugins`): a test names the fixture it needs and imports nothing for it.

- `fake_github`: a started fake GitHub per test, whose every response is validated against
  GitHub's OpenAPI description at teardown (testing/openapi_check.py);
- `moto_server`: one moto server per test module (moto's enforcement switch is server-wide);
- `iam_delete_conflicts`: moto's DeletePolicy answering DeleteConflict as IAM does; modules that
  delete IAM policies use it with `pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jitflow.sandbox.github import FakeGitHub
from testing.moto_server import MotoServer, delete_conflicts, running_server
from testing.openapi_check import served_problems

FAKE_GITHUB_UNKNOWN_PATHS = "fake_github_unknown_paths"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FAKE_GITHUB_UNKNOWN_PATHS}: the test requests paths the fake GitHub does not serve",
    )


@pytest.fixture
def fake_github(request: pytest.FixtureRequest) -> Iterator[FakeGitHub]:
    """A started FakeGitHub; sets nothing global: hand `fake_github.url` to the code under test.
    Mark a test `@pytest.mark.fake_github_unknown_paths` when it requests unserved paths on
    purpose."""
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


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """One moto server per test module (the enforcement switch is server-global)."""
    with running_server() as server:
        yield server


@pytest.fixture
def iam_delete_conflicts() -> Iterator[None]:
    """DeletePolicy as IAM answers it (moto itself deletes an attached policy)."""
    with delete_conflicts():
        yield
