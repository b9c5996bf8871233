"""What goes over the wire to each kind of target. Pure.

A generic webhook gets the event document as compact canonical JSON, signed like GitHub's
own webhooks (HMAC-SHA256 over the exact body bytes, `sha256=<hex>`), so a receiver can check
it with the code it already has for GitHub. Slack gets Block Kit built from the same
document.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Jitflow-Signature-256"
EVENT_HEADER = "X-Jitflow-Event"
DELIVERY_HEADER = "X-Jitflow-Delivery"

_TITLES = {
    "requested": "Access requested", "approved": "Access approved",
    "granted": "Access granted", "expiring_soon": "Access expiring soon",
    "expired": "Access expired", "revoked_early": "Access revoked early",
    "rejected": "Request rejected", "break_glass_used": "Break-glass access used",
    "review_overdue": "Break-glass review overdue",
}


def body(document: dict[str, Any]) -> bytes:
    """The bytes that are sent and signed: one spelling per document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: bytes, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret, payload, hashlib.sha256).hexdigest()


def webhook_headers(document: dict[str, Any], payload: bytes, secret: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, payload),
            EVENT_HEADER: str(document["event"]), DELIVERY_HEADER: str(document["id"])}


def _plain(text: str) -> str:
    """Slack mrkdwn treats <, > and & as markup: a request reason must not become a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fields(document: dict[str, Any]) -> list[dict[str, str]]:
    shown = [("Request", document.get("request")), ("Requester", document.get("requester")),
             ("Principal", document.get("principal")), ("Account", document.get("account")),
             ("Expires", document.get("expires")), ("Reason", document.get("reason"))]
    return [{"type": "mrkdwn", "text": f"*{name}*\n{_plain(str(value))}"}
            for name, value in shown if value]


def slack_message(document: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit) for one event document."""
    title = _TITLES.get(str(document["event"]), str(document["event"]))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "fields": _fields(document)[:10]},  # Slack allows 10 fields
    ]
    pull = document.get("pull_request") or {}
    if pull.get("url"):
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{pull['url']}|pull request #{pull['number']}>"}]})
    return {"text": _plain(f"{title}: {document.get('request') or '-'}"), "blocks": blocks}
