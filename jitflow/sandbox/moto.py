"""moto's server on 127.0.0.1 standing in for AWS: the one launcher of `jitflow demo` and the tests.

moto's IAM enforcement switch (`INITIAL_NO_AUTH_ACTION_COUNT`) is process-global and the threaded
server runs in this process, so `moto_server()` turns enforcement off again on the way out:
nothing else in the process (tests using `mock_aws`, say) may see it on.

moto is optional (the `demo` extra) and imported only when a server starts.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from jitflow.errors import ConfigError

INSTALL = "pip install 'jitflow[demo]'"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (port 0); yields its endpoint, always stops it.

    On exit IAM enforcement is off again, however the block ended.
    """
    try:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 (optional: the demo extra)
    except ImportError:
        raise ConfigError(
            f"jitflow demo needs moto's server (the demo extra): {INSTALL}, "
            "or ./dev.sh demo in a checkout"
        ) from None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        try:
            yield endpoint
        finally:
            enforce_iam(endpoint, False)  # the switch is process-global in moto
    finally:
        server.stop()


def enforce_iam(endpoint: str, on: bool) -> None:
    """moto's switch: check every call against IAM (on) or allow everything (off)."""
    request = urllib.request.Request(  # noqa: S310 (always http://127.0.0.1)
        endpoint + "/moto-api/reset-auth", data=b"0" if on else b"inf", method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass
