"""pytest plugin: the private network namespace and the real LiveKit stack in it.

When pytest loads this plugin (from ``tests/conftest.py``, before any other conftest or test
module is imported and before any thread exists), the test process enters a private network
namespace when it can (root + iproute2; see ``trunkline/stack/netns.py``).
Redis, livekit-server and (where installed) livekit-sip then run as child processes inside it,
bound to its veth address, started once per session (``livekit_stack``); tests isolate
themselves by room name. A test that stops or kills a server takes a stack of its own
(``private_stack``). When a test that used a stack fails, the servers' log lines written during
that test are attached to its report.

Tests marked ``netns`` need the namespace and the stack; where either cannot be had they are
skipped with the reason, or, with ``CI=true``, fail with it. This module imports nothing heavy
at import time: livekit's native library and numpy start threads that must be born inside the
namespace.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from trunkline.stack import LocalStack, StackOptions, StackUnavailable, netns
from trunkline.stack.binaries import (
    LIVEKIT_SERVER,
    LIVEKIT_SIP,
    REDIS,
    find,
    sip_unavailable_reason,
)

LOOPBACK = "127.0.0.1"
#: where a failing test's report gets each server's log lines from
_LOGS = pytest.StashKey[list[tuple[LocalStack, dict[str, int]]]]()


class _Namespace:
    """The outcome of trying to enter the namespace, shared by hooks and fixtures."""

    entered: netns.Namespace | None = None
    reason = "not attempted"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_servers() -> str | None:
    missing = [name for name in (REDIS, LIVEKIT_SERVER) if find(name) is None]
    if not missing:
        return None
    return f"{' and '.join(missing)} not installed (run `make livekit`)"


def _enter_namespace() -> None:
    """Now, at import: a directory's conftest (numpy, say) would start threads before
    ``pytest_configure``, and threads started outside the namespace stay outside it."""
    try:
        _Namespace.entered = netns.enter()
    except netns.NetnsUnavailable as exc:
        _Namespace.reason = f"needs a private network namespace: {exc}"


_enter_namespace()


def _unusable() -> str | None:
    if _Namespace.entered is None:
        return _Namespace.reason
    missing = _missing_servers()
    return None if missing is None else f"needs the real LiveKit stack: {missing}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _without_livekit_sip(items)
    reason = _unusable()
    if reason is None or _in_ci():
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("netns") is not None:
            item.add_marker(skip)


def _without_livekit_sip(items: list[pytest.Item]) -> None:
    """Tests marked ``livekit_sip`` need the SIP gateway itself. It is the one server a
    machine may be unable to get: ``make livekit`` cannot install it where the Go module proxy
    does not serve ``github.com/livekit/sip`` (this project's build machines), and then it
    records why. Those tests are skipped with that reason — under CI too, as no other server
    can stand in for it — and everything else of the stack still runs."""
    if find(LIVEKIT_SIP) is not None:
        return
    skip = pytest.mark.skip(reason=f"needs livekit-sip: {sip_unavailable_reason()}")
    for item in items:
        if item.get_closest_marker("livekit_sip") is not None:
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = _unusable()
    if item.get_closest_marker("netns") is not None and reason is not None:
        pytest.fail(f"CI=true but the test cannot run: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for stack, offsets in item.stash.get(_LOGS, []):
            for name, path in stack.logs().items():
                report.sections.append((f"{name} log during this test", _since(path, offsets)))
    return report


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _since(path: Path, offsets: dict[str, int]) -> str:
    with path.open("rb") as log:
        log.seek(offsets.get(str(path), 0))
        text = log.read().decode(errors="replace")
    # livekit-server logs whole SDP offers on one line: keep each line's start
    lines = [line if len(line) <= 400 else line[:400] + " …" for line in text.splitlines()]
    return "\n".join(lines[-200:]) if lines else "(nothing written)"


def _watch(request: pytest.FixtureRequest, stack: LocalStack) -> None:
    """Remember where each log ends now, so a failure shows only what this test caused."""
    offsets = {str(path): _size(path) for path in stack.logs().values()}
    request.node.stash.setdefault(_LOGS, []).append((stack, offsets))


@pytest.fixture(scope="session")
def netns_address() -> str:
    """The non-loopback address WebRTC peers can use (loopback outside the namespace)."""
    return _Namespace.entered.address if _Namespace.entered is not None else LOOPBACK


def _start(address: str, run_dir: Path, *, sip: bool | None) -> LocalStack:
    stack = LocalStack(StackOptions(host=address, run_dir=run_dir, sip=sip))
    try:
        stack.start()
    except StackUnavailable as exc:
        if _in_ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    return stack


@pytest.fixture(scope="session")
def _session_stack(
    netns_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    stack = _start(netns_address, tmp_path_factory.mktemp("livekit-stack"), sip=None)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def livekit_stack(request: pytest.FixtureRequest, _session_stack: LocalStack) -> LocalStack:
    """The session's stack (started on first use; with livekit-sip where it is installed);
    a failing test gets its log lines."""
    _watch(request, _session_stack)
    return _session_stack


@pytest.fixture
def private_stack(
    request: pytest.FixtureRequest, netns_address: str, tmp_path: Path
) -> Iterator[LocalStack]:
    """A stack of this test's own (without livekit-sip), for tests that stop or kill its
    servers or need SIP state nobody else touches."""
    stack = _start(netns_address, tmp_path / "livekit-stack", sip=False)
    _watch(request, stack)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def livekit_env(livekit_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """The stack, with ``LIVEKIT_URL``/``_API_KEY``/``_API_SECRET`` set in the environment."""
    for name, value in livekit_stack.env.items():
        monkeypatch.setenv(name, value)
    return livekit_stack
