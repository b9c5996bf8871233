"""`jitflow new` (a request file drafted from its policy, valid as written) and `jitflow
policies` (which policy covers a bucket), through the real entry point on a copy of this
repository's policies; and `jitflow apply`, which takes no request paths any more."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testing.check_repo import GIT_ENV
from testing.foundation import ROOT

SCRIPT = Path(sys.executable).parent / "jitflow"


def jitflow(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False, env=base | (env or {}))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "access"
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copy(ROOT / "jitflow.yaml", root / "jitflow.yaml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def validate(repo: Path) -> subprocess.CompletedProcess[str]:
    return jitflow("validate", "requests", cwd=repo)


# --- jitflow new ---------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "extra"), [
    ("analytics-raw", ()),  # bucket-policy: alice's session on the shared role
    ("ml-models", ("--ticket", "ML-7")),  # identity-policy: her own role; needs a ticket
])
def test_new_writes_a_request_that_validates_as_written(repo: Path, policy: str,
                                                        extra: tuple[str, ...]) -> None:
    done = jitflow("new", policy, "first", "--requester", "alice", *extra, cwd=repo)
    assert done.returncode == 0, done.stderr
    path = repo / "requests" / policy / "first.yaml"
    assert done.stdout.strip() == str(path)
    checked = validate(repo)
    assert checked.returncode == 0, checked.stdout
    assert "1 request file(s) checked: all valid" in checked.stderr


def test_the_draft_offers_the_policy_choices_as_comments(repo: Path) -> None:
    assert jitflow("new", "analytics-raw", "first", "--requester", "alice", cwd=repo
                   ).returncode == 0
    text = (repo / "requests/analytics-raw/first.yaml").read_text()
    assert 'principal: "arn:aws:iam::111122223333:role/data-engineers"' in text
    assert "#   buckets of this policy: analytics-raw, analytics-raw-eu" in text
    assert "#   must start with one of: clickstream/, backfill/" in text
    assert "#   actions of this policy: s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload" \
        in text
    assert 'duration: "1h"   # at most 4h' in text


def test_a_longer_duration_is_capped_at_the_policy_maximum(repo: Path) -> None:
    done = jitflow("new", "analytics-raw", "long", "--requester", "alice", "--duration", "9h",
                   "--reason", "Reload the whole week of clickstream data", cwd=repo)
    assert done.returncode == 0
    assert "duration capped at the policy's maximum, 4h" in done.stderr
    text = (repo / "requests/analytics-raw/long.yaml").read_text()
    assert 'duration: "4h"' in text
    assert 'reason: "Reload the whole week of clickstream data"' in text
    assert validate(repo).returncode == 0


def test_the_requester_comes_from_git_config(repo: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "config", "user.email",
                    "12345+Alice@users.noreply.github.com"], check=True)
    done = jitflow("new", "analytics-raw", "mine", cwd=repo, env={"GIT_CONFIG_GLOBAL": "/x"})
    assert done.returncode == 0, done.stderr
    assert 'requester: "Alice"' in (repo / "requests/analytics-raw/mine.yaml").read_text()
    subprocess.run(["git", "-C", str(repo), "config", "github.user", "bob"], check=True)
    assert jitflow("new", "analytics-raw", "bobs", cwd=repo).returncode == 0
    assert 'requester: "bob"' in (repo / "requests/analytics-raw/bobs.yaml").read_text()
    assert validate(repo).returncode == 0


def test_an_unknown_login_is_asked_for(repo: Path) -> None:
    done = jitflow("new", "analytics-raw", "who", cwd=repo)
    assert done.returncode == 2
    assert "pass --requester LOGIN" in done.stderr
    assert not (repo / "requests").exists()


def test_an_existing_request_is_never_overwritten(repo: Path) -> None:
    target = repo / "requests/analytics-raw/first.yml"
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    done = jitflow("new", "analytics-raw", "first", "--requester", "alice", cwd=repo)
    assert done.returncode == 2
    assert "first.yml exists" in done.stderr
    assert target.read_text() == "mine\n"
    assert not (repo / "requests/analytics-raw/first.yaml").exists()


@pytest.mark.parametrize(("args", "says"), [
    (("nope", "x", "--requester", "alice"), "there is no policy 'nope' (policies: "
                                             "analytics-raw, ml-models)"),
    (("ml-models", "x", "--requester", "alice"), "policy 'ml-models' requires a ticket"),
    (("ml-models", "x", "--requester", "bob", "--ticket", "ML-1"),
     "gives 'bob' no principal that policy 'ml-models' can grant to"),
    (("analytics-raw", "x", "--requester", "mallory"), "'mallory' has no entry in "
                                                       "policies/identities.yaml"),
    (("analytics-raw", "x", "--requester", "alice", "--principal",
      "arn:aws:iam::444455556666:role/alice-ml"), "is not among alice's principals"),
])
def test_what_cannot_be_drafted_is_refused_with_the_reason(repo: Path, args: tuple[str, ...],
                                                           says: str) -> None:
    done = jitflow("new", *args, cwd=repo)
    assert done.returncode == 1
    assert says in done.stderr
    assert not (repo / "requests").exists()


def test_the_policy_requesters_decide_who_may_draft(repo: Path) -> None:
    # erin is in no requester list, but @acme/data-eng might admit her: the check confirms.
    done = jitflow("new", "analytics-raw", "x", "--requester", "erin", cwd=repo)
    assert done.returncode == 0
    assert "admits erin only through a team" in done.stderr
    policy = repo / "policies/analytics-raw.yaml"
    policy.write_text(policy.read_text().replace('"@acme/data-eng"', '"carol"'))
    refused = jitflow("new", "analytics-raw", "y", "--requester", "erin", cwd=repo)
    assert refused.returncode == 1
    assert "'erin' may not request under policy 'analytics-raw'" in refused.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("Bad_Policy", "x"), "policy 'Bad_Policy'"),
    (("analytics-raw", "Bad Name"), "request name 'Bad Name'"),
    (("analytics-raw", "x", "--duration", "soon"), "--duration 'soon'"),
])
def test_bad_names_are_usage_errors(repo: Path, args: tuple[str, ...], says: str) -> None:
    done = jitflow("new", *args, "--requester", "alice", cwd=repo)
    assert done.returncode == 2 and says in done.stderr


# --- jitflow policies --------------------------------------------------------------------------


def test_policies_finds_the_policy_covering_a_bucket(repo: Path) -> None:
    done = jitflow("policies", "--bucket", "analytics-raw-eu", cwd=repo)
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == ("analytics-raw: Raw analytics landing bucket "
                                           "(clickstream and backfills)")
    assert "  approval  needs 1 approval from @acme/data-platform, erin" in done.stdout
    assert "  request   jitflow new analytics-raw NAME" in done.stdout
    assert "ml-models" not in done.stdout


def test_policies_json_has_the_documented_shape(repo: Path) -> None:
    done = jitflow("policies", "--format", "json", cwd=repo)
    assert done.returncode == 0
    found = json.loads(done.stdout)
    assert [p["policy"] for p in found] == ["analytics-raw", "ml-models"]
    assert found[1] == {
        "policy": "ml-models",
        "description": "Published ML model artefacts; every write is reviewed by two people",
        "path": "policies/ml-models.yaml",
        "request_folder": "requests/ml-models/",
        "grant": "identity-policy",
        "account": "444455556666",
        "buckets": ["acme-ml-models"],
        "prefixes": ["models/"],
        "actions": ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"],
        "max_duration": "1h",
        "approvers": ["@acme/ml-leads", "@acme/security"],
        "min_approvals": 2,
        "requesters": None,
        "require_ticket": True,
        "ticket_pattern": "^ML-[0-9]+$",
    }


def test_no_policy_for_a_bucket_exits_1(repo: Path) -> None:
    done = jitflow("policies", "--bucket", "nobody-s-bucket", "--format", "json", cwd=repo)
    assert done.returncode == 1
    assert json.loads(done.stdout) == []
    assert "no policy covers bucket nobody-s-bucket" in done.stderr


def test_a_broken_policy_makes_the_answer_partial(repo: Path) -> None:
    policy = repo / "policies/ml-models.yaml"
    policy.write_text(policy.read_text().replace("max_duration: 1h", "max_duration: soon"))
    done = jitflow("policies", "--bucket", "analytics-raw", cwd=repo)
    assert done.returncode == 1
    assert done.stdout.startswith("analytics-raw:")
    assert "ml-models.yaml" in done.stderr and "may be incomplete" in done.stderr


# --- jitflow apply takes no paths --------------------------------------------------------------


def test_apply_refuses_request_paths_and_its_help_says_so(repo: Path) -> None:
    done = jitflow("apply", "requests/analytics-raw/x.yaml", cwd=repo)
    assert done.returncode == 2
    assert "jitflow apply takes no request paths" in done.stderr
    helped = jitflow("apply", "--help", cwd=repo)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: jitflow apply [-h] [--repo DIR] [--at TIME] "
                                    "[--dry-run] [--commit]\n")
    assert "It takes no request paths" in " ".join(helped.stdout.split())
