"""The sandbox's moto launcher (`jitflow.sandbox.moto`), shared by `jitflow demo` and the tests."""

from __future__ import annotations

import math
import sys
import urllib.request

import pytest
from moto import settings

from jitflow.errors import ConfigError
from jitflow.sandbox.moto import enforce_iam, moto_server


def test_the_server_answers_and_enforcement_is_off_again_however_the_block_ends() -> None:
    with pytest.raises(RuntimeError, match="boom"), moto_server() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        enforce_iam(endpoint, True)
        assert settings.INITIAL_NO_AUTH_ACTION_COUNT == 0
        raise RuntimeError("boom")
    # moto's switch is process-global: whoever runs next in this process sees it off
    assert math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)
    with pytest.raises(OSError):  # and the server is gone
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)  # noqa: S310 (127.0.0.1)


def test_without_moto_it_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)  # `import moto.server` fails
    with pytest.raises(ConfigError, match=r"pip install 'jitflow\[demo\]'"), moto_server():
        pass
