"""A local HTTP receiver for notification tests: it records every POST (headers and body)
and answers with the status the test sets, over a real socket on 127.0.0.1.

Given the webhook's key, it also checks each delivery as a real receiver would: the
`X-Jitflow-Signature-256` HMAC over the exact body (401 when it does not match) and the body
against jitflow's event schema (400 when it does not validate); each refusal is listed in
`refused`, and the sender sees a failed delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema

import jitflow

EVENT_SCHEMA = Path(jitflow.__file__).parent / "schemas" / "event.schema.json"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    status: int = 200
    location: str | None = None  # with a 3xx status: where to redirect
    received: list[Received] = field(default_factory=list)
    key: bytes | None = None  # the webhook key: check signatures and the schema
    refused: list[str] = field(default_factory=list)

    def judge(self, headers: dict[str, str], body: bytes) -> int | None:
        """The refusal status for a delivery, or None when it passes (or nothing is checked)."""
        if self.key is None:
            return None
        expected = "sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("X-Jitflow-Signature-256", ""), expected):
            self.refused.append("signature")
            return 401
        validator = jsonschema.Draft7Validator(json.loads(EVENT_SCHEMA.read_text()),
                                               format_checker=jsonschema.FormatChecker())
        errors = [error.message for error in validator.iter_errors(json.loads(body))]
        if errors:
            self.refused.append("schema: " + "; ".join(errors))
            return 400
        return None


def unreachable_url() -> str:
    """An http URL on this machine where nothing listens: a service out of reach."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{closed.getsockname()[1]}"


@contextmanager
def receiver(key: bytes | None = None) -> Iterator[Receiver]:
    state = Receiver(url="", key=key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            headers, body = dict(self.headers.items()), self.rfile.read(length)
            state.received.append(Received(self.path, headers, body))
            self.send_response(state.judge(headers, body) or state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815 (a followed redirect arrives as a GET)

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
