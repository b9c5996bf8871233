"""A broken audit log never blocks taking access away (jitflow.audit.segment), through the CLI
against the moto server: with a forged log, `jitflow revoke` still removes an expired grant
and an orphan (a grant made outside jitflow, whose forged record sits past the break), records
both in a marked segment, commits it and exits 1; `jitflow audit verify` reports the break
and the segment; an admin's repair brings the log back. `jitflow apply` refusing new grants
over a broken log is in tests/test_cli_apply.py; the segment rules in
tests/test_audit_segments.py."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from jitflow import cli
from jitflow.audit import chain
from testing.builders import Approvals
from testing.moto_server import (
    ACCOUNT,
    T0,
    MotoServer,
    World,
    build_world,
    make_engine,
    make_policy,
    make_request,
    point_env_at,
)

pytestmark = pytest.mark.usefixtures("iam_delete_conflicts")

GIT_ENV = {"GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "bot@example.com",
           "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "bot@example.com",
           "GIT_CONFIG_NOSYSTEM": "1"}
NOV = "2026-11.jsonl"
AT = "2026-11-28T12:00:00Z"  # past the expiry of the 2h grant, before the 8h one's


@pytest.fixture
def world(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = build_world(moto_server, objects=(), enforce=False)
    point_env_at(monkeypatch, moto_server, world.admin)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("GITHUB_TOKEN", "GITHUB_REPOSITORY"):  # no GitHub: an orphan stays unproven
        monkeypatch.delenv(key, raising=False)
    yield world


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def _repository(tmp_path: Path) -> Path:
    """main with the settings and one identity-policy policy in the moto account."""
    repo = tmp_path / "repo"
    files = {
        "jitflow.yaml": f'admins: [admin]\naccounts:\n  "{ACCOUNT}": {{}}\n',
        "policies/identities.yaml": "{}\n",
        "policies/lake.yaml": f'description: the data lake\naccount: "{ACCOUNT}"\n'
                              "buckets: [data-lake]\nprefixes: [clickstream/]\n"
                              'actions: [s3:PutObject]\nmax_duration: 8h\napprovers: ["erin"]\n',
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "settings and policies")
    return repo


def _forged_grant(world: World, repo: Path, tmp_path: Path) -> str:
    """A grant made outside jitflow's approval, live until T0+8h, and a forged `granted`
    record for it appended to the log (a record that does not hash to its stored hash)."""
    request = make_request("forged", world.role_arn, duration=timedelta(hours=8))
    make_engine(tmp_path / "elsewhere").apply(request, make_policy(), Approvals(), T0)
    path = repo / "audit" / NOV
    last = json.loads(path.read_text().splitlines()[-1])
    forged = chain.next_record(last, at=T0, event="granted",
                               details={"request": request.id, "approvers": ["erin"]})
    forged["approvers"] = ["erin", "grace"]  # "edited" after hashing: the chain breaks here
    path.write_text(path.read_text() + chain.dumps(forged) + "\n")
    return request.id


def _jitflow_policies(world: World) -> list[str]:
    listed = world.admin_client("iam").list_policies(Scope="Local", PathPrefix="/jitflow/")
    return sorted(p["PolicyName"] for p in listed["Policies"])


def test_revoke_over_a_forged_log_removes_and_records_in_a_marked_segment(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repository(tmp_path)
    expired = make_request("backfill", world.role_arn)  # 2h: expired at AT
    make_engine(repo / "audit").apply(expired, make_policy(), Approvals(), T0)
    orphan = _forged_grant(world, repo, tmp_path)
    _git(repo, "add", "audit")
    _git(repo, "commit", "--quiet", "-m", "the log, forged")
    assert _jitflow_policies(world) == ["jitflow.lake.backfill", "jitflow.lake.forged"]
    capsys.readouterr()

    code = cli.main(["revoke", "--commit", "--repo", str(repo), "--at", AT])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert _jitflow_policies(world) == []  # both removed, the forged log notwithstanding
    assert f"expired: {expired.id}" in out
    assert f"orphan_revoked: {orphan}" in out and "no request file for it on main" in out
    segment = [json.loads(line)
               for line in (repo / "audit" / "segment-1.jsonl").read_text().splitlines()]
    assert [(r["event"], r["request"]) for r in segment] == [
        ("chain_started", None), ("expired", expired.id), ("orphan_revoked", orphan)]
    assert segment[0]["anchor"]["seq"] == 1 and segment[0]["anchor"]["line"] == 1
    assert "the audit log does not verify" in err and "marked segment segment-1.jsonl" in err
    assert "New grants wait until an admin repairs the log" in err and "Traceback" not in err
    # Committed: what the push step needs (a clean tree), with the segment in it.
    assert _git(repo, "status", "--porcelain") == ""
    assert "audit/segment-1.jsonl" in _git(repo, "show", "--name-only", "--format=%s", "HEAD")
    assert "recorded apart, in a marked segment" in _git(repo, "log", "-1", "--format=%s")

    assert cli.main(["audit", "verify", str(repo / "audit")]) == 1
    err = capsys.readouterr().err
    assert f"{repo / 'audit' / NOV}:2: record was edited" in err
    assert f"{repo / 'audit' / 'segment-1.jsonl'}:1: marked chain segment" in err

    # The next run has nothing left to do, records nothing, and still fails loudly.
    assert cli.main(["revoke", "--commit", "--repo", str(repo), "--at", AT]) == 1
    assert len((repo / "audit" / "segment-1.jsonl").read_text().splitlines()) == 3


def test_an_admin_repair_brings_the_log_back(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _repository(tmp_path)
    expired = make_request("backfill", world.role_arn)
    make_engine(repo / "audit").apply(expired, make_policy(), Approvals(), T0)
    _git(repo, "add", "audit")
    _git(repo, "commit", "--quiet", "-m", "granted")
    _forged_grant(world, repo, tmp_path)
    assert cli.main(["revoke", "--commit", "--repo", str(repo), "--at", AT]) == 1
    # The admin takes the month file back as git history has it, and re-chains the segment.
    _git(repo, "checkout", "HEAD~1", "--", f"audit/{NOV}")
    assert cli.main(["audit", "repair", str(repo / "audit")]) == 0
    assert cli.main(["audit", "verify", str(repo / "audit")]) == 0
    events = [json.loads(line)["event"]
              for line in (repo / "audit" / NOV).read_text().splitlines()]
    assert events == ["granted", "chain_started", "expired", "orphan_revoked"]
    capsys.readouterr()
    assert cli.main(["revoke", "--repo", str(repo), "--at", AT]) == 0, capsys.readouterr().err
