"""An AWS answer jitflow cannot read (an HTML page from a proxy) is an external failure:
exit 3, "safe to rerun", never exit 70 ("a bug") and never a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from jitflow.cli import main

PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def serve(status: int) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    return Proxy


@pytest.fixture(params=[200, 502])
def proxy(request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve(request.param))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_html_answer_exits_3_without_a_traceback(
    proxy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "jitflow.yaml").write_text(
        'admins: ["@acme/security"]\naccounts:\n  "123456789012": {}\n')
    for name, value in {"AWS_ENDPOINT_URL": proxy, "AWS_ACCESS_KEY_ID": "x",
                        "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    code = main(["revoke", "--repo", str(tmp_path), "--no-reconcile", "--at",
                 "2026-12-01T10:00:00Z"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith("jitflow: error: AWS"), err  # says which service failed
