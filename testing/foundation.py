"""Shared builders for the foundation tests: example policies and request texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jitflow.loader import judge_request, load_policy_set
from jitflow.model import PolicySet, Request
from jitflow.problems import Problem
from jitflow.rules import check_request
from jitflow.tree import FsTree

ROOT = Path(__file__).resolve().parent.parent


def example_policies() -> PolicySet:
    policies, problems = load_policy_set(FsTree(ROOT))
    assert problems == []
    return policies


def valid_request_data() -> dict[str, Any]:
    """A valid request under the bucket-policy example policy (analytics-raw): alice's session
    on the shared data-engineers role."""
    return {
        "requester": "alice",
        "principal": "arn:aws:iam::111122223333:role/data-engineers",
        "reason": "Backfill the 2026-11-27 clickstream partition after job 4411 failed",
        "ticket": "OPS-1234",
        "duration": "2h",
        "access": [
            {
                "bucket": "analytics-raw",
                "prefix": "clickstream/2026/11/27/",
                "actions": ["s3:PutObject", "s3:DeleteObject"],
            }
        ],
    }


def ml_request_data() -> dict[str, Any]:
    """A valid request under the identity-policy example policy (ml-models): alice's own role
    in the ML account."""
    return {
        "requester": "alice",
        "principal": "arn:aws:iam::444455556666:role/alice-ml",
        "reason": "Publish the retrained churn model after the 2026-11 feature fix",
        "ticket": "ML-42",
        "duration": "1h",
        "access": [
            {
                "bucket": "acme-ml-models",
                "prefix": "models/churn/",
                "actions": ["s3:PutObject", "s3:DeleteObject"],
            }
        ],
    }


def dump(data: dict[str, Any]) -> bytes:
    # Quote every string so the YAML text means exactly the data (no 1.1 surprises).
    return yaml.safe_dump(data, sort_keys=False, default_style=None, allow_unicode=True).encode()


def judge(
    raw: bytes,
    path: str = "requests/analytics-raw/alice-backfill.yaml",
    policies: PolicySet | None = None,
) -> tuple[Request | None, list[Problem]]:
    return judge_request(raw, path, policies or example_policies(), check_request)


def messages(problems: list[Problem]) -> str:
    return "\n".join(p.message for p in problems)
