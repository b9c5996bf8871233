"""One ✔/✘ line per item `jitflow doctor` checks, each ✘ linking to its section of the setup
guide, and the two ways of printing them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

SETUP_GUIDE = "docs/setup.md"

# item -> the anchor of its section in docs/setup.md (a test checks each heading exists).
ANCHORS: dict[str, str] = {
    "policies": "policies-load",
    "settings": "settings-agree-with-github",
    "default-branch-rules": "default-branch-rules-no-bypass",
    "required-check": "required-status-check",
    "code-owner-review": "code-owner-review",
    "stale-reviews": "stale-reviews-dismissed",
    "last-push-approval": "approval-of-the-last-push",
    "apply-environment": "the-apply-environment",
    "oidc-subject": "oidc-subject-customisation",
    "variables": "repository-variables",
    "secrets": "no-secrets-in-reach-of-pull-requests",
    "team": "approver-teams",
    "audit-branch": "audit-branch-rules",
    "role": "the-jitflow-roles",
    "role-trust": "role-trust",
    "role-permissions": "role-permissions",
    "identities": "identities-within-the-allowed-principals",
    "notifications": "notification-targets",
    "break-glass": "break-glass-reviews",
}


@dataclass(frozen=True)
class Finding:
    """One checked item: what was found, and whether that is how it should be."""

    item: str  # a key of ANCHORS
    ok: bool
    message: str

    @property
    def link(self) -> str:
        return f"{SETUP_GUIDE}#{ANCHORS[self.item]}"


def passed(item: str, message: str) -> Finding:
    return Finding(item, True, message)


def failed(item: str, message: str) -> Finding:
    return Finding(item, False, message)


def render_text(findings: Sequence[Finding]) -> str:
    lines = [f"✔ {f.message}" if f.ok else f"✘ {f.message} (see {f.link})" for f in findings]
    bad = sum(1 for f in findings if not f.ok)
    lines.append(f"jitflow doctor: {'all good' if not bad else f'{bad} of {len(findings)} wrong'}")
    return "\n".join(lines)


def render_json(findings: Sequence[Finding]) -> str:
    return json.dumps({
        "ok": all(f.ok for f in findings),
        "findings": [{"item": f.item, "ok": f.ok, "message": f.message,
                      **({} if f.ok else {"link": f.link})} for f in findings],
    }, indent=2, ensure_ascii=False)
