"""The pytest fixtures every test module may use, registered once in tests/conftest.py
(`pytest_plugins`): a test names the fixture it needs and imports nothing for it.

- `fake_github`: a started fake GitHub per test, whose every response is validated against
  GitHub's OpenAPI description at teardown (testing/openapi_check.py);
- `moto_server`: one moto server per test module (moto's enforcement switch is server-wide);
- `iam_delete_conflicts`: moto's DeletePolicy answering DeleteConflict as IAM does; modules that
  delete IAM policies use it with `pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")`;
- `healthy_setup`: a setup `jitflow doctor` finds nothing wrong with (testing/doctor_setup.py),
  on the fake GitHub and in-process moto, with the environment doctor reads set.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from jitflow.sandbox.github import FakeGitHub
from testing.doctor_setup import ACCOUNT, REGION, REPOSITORY, HealthySetup
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


@pytest.fixture
def healthy_setup(fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[HealthySetup]:
    """A healthy setup, with the environment `jitflow doctor` reads (`--repo` not needed)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION", "JITFLOW_TEAMS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": fake_github.url,
        "GITHUB_TOKEN": "admin-token", "JITFLOW_GITHUB_PACE": "0",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "MOTO_ACCOUNT_ID": ACCOUNT,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield HealthySetup.build(fake_github, boto3.client("iam", region_name=REGION))
