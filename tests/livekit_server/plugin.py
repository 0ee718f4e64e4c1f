"""pytest plugin: the private network namespace, the ``netns`` marker and the server fixtures.

At configure time, before any test module is imported and before any thread exists, the test
process enters a private network namespace when it can (root + iproute2; see ``netns.py``).
Tests marked ``netns`` need it; where it cannot be had they are skipped with the reason, or,
with ``CI=true``, fail with it. This module imports nothing heavy at import time: livekit's
native library and numpy start threads that must be born inside the namespace.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from . import netns

if TYPE_CHECKING:
    from .server import LiveKitTestServer

LOOPBACK = "127.0.0.1"


class _Namespace:
    """The outcome of trying to enter the namespace, shared by hooks and fixtures."""

    entered: netns.Namespace | None = None
    reason = "not attempted"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    # LiveKit's development key pair (devkey/secret) is shorter than PyJWT recommends.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")
    try:
        _Namespace.entered = netns.enter()
    except netns.NetnsUnavailable as exc:
        _Namespace.reason = str(exc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _Namespace.entered is not None or _in_ci():
        return
    skip = pytest.mark.skip(reason=f"needs a private network namespace: {_Namespace.reason}")
    for item in items:
        if item.get_closest_marker("netns") is not None:
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") is not None and _Namespace.entered is None:
        pytest.fail(f"CI=true but no private network namespace: {_Namespace.reason}")


@pytest.fixture
def netns_address() -> str:
    """The non-loopback address WebRTC peers can use (loopback outside the namespace)."""
    return _Namespace.entered.address if _Namespace.entered is not None else LOOPBACK


@pytest.fixture
async def livekit_server(netns_address: str) -> AsyncIterator[LiveKitTestServer]:
    """A fresh server per test, on the namespace address; closed (rooms, workers) after it."""
    from .server import LiveKitTestServer, ServerConfig

    async with LiveKitTestServer(ServerConfig(host=netns_address)) as server:
        yield server


@pytest.fixture
def livekit_env(
    livekit_server: LiveKitTestServer, monkeypatch: pytest.MonkeyPatch
) -> LiveKitTestServer:
    """The server, with ``LIVEKIT_URL``/``_API_KEY``/``_API_SECRET`` set in the environment."""
    for name, value in livekit_server.env.items():
        monkeypatch.setenv(name, value)
    return livekit_server
