"""pytest plugin: a test that leaves an ERROR line behind fails, unless it says it expects it.

An operator reads the product's log to find real failures; a teardown that logs a traceback at
ERROR, a task whose exception nobody retrieved, or a task destroyed while still pending (work
started and never cleaned up) buries them. asyncio reports the last two through the loop's
exception handler, which logs at ERROR on the ``asyncio`` logger — often only when the task is
garbage collected, i.e. after the test that leaked it. So every test's records at ERROR and
above are collected from the root logger (every thread: job threads and the simulator's too),
and at the end of the test's teardown, once its event loop is closed, a garbage collection
brings out the destroyed-task reports while they can still be charged to the test that caused
them.

pytest-asyncio's runner cancels whatever tasks are still pending when it closes a test's loop,
which would hide them; so just before that, once every fixture of the test is torn down, a task
still pending on the loop counts as a destroyed pending task too.

A test that legitimately logs at ERROR (say, LiveKit refusing a call at the webhook) says so by
name: ``@pytest.mark.expect_log(r"refused at the webhook")``. Each pattern is a regular
expression searched in the record's message (its first line); records matching any pattern are
allowed, and each pattern must match at least once, so a marker cannot outlive the behaviour it
excuses. livekit-server's own logs are files, not Python logging, and are not looked at.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import Generator
from typing import Any

import pytest

#: what the plugin stores on each test: the records and the handler collecting them
_RECORDS = pytest.StashKey["_Collector"]()

MARKER = "expect_log"
#: what LiveKit's native SDK logs at ERROR while the server it was connected to is gone (its
#: reconnect attempts, data channels closed under it), for tests that take the server away
LIVEKIT_SERVER_LOST = r"^ERROR livekit: livekit::rtc_(engine|session)"
#: what LiveKit's native SDK logs at ERROR in an ordinary teardown race, whatever the test: a
#: peer's data channels closing as it leaves, a track announced for a participant already gone.
#: They are the SDK's, come and go with timing, and say nothing of ours; every other ERROR line
#: (the SDK's connection losses included) still fails the test.
SDK_TEARDOWN_NOISE = re.compile(
    r"^ERROR livekit: livekit::(rtc_engine::rtc_session:\d+:\S+ - publisher data channel "
    r"'\w+' closed unexpectedly|room:\d+:\S+ - dropping remote track due to invalid TrackSid)"
)
#: pytest-asyncio's fixture owning a test's event loop
RUNNER_FIXTURE = "_function_scoped_runner"


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _first_line(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is still a line the test left behind
        message = str(record.msg)
    return f"{record.levelname} {record.name}: {message.splitlines()[0] if message else ''}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*patterns): ERROR-level log lines this test causes on purpose (regular "
        "expressions searched in each line); any other ERROR line, never-retrieved task "
        "exception or destroyed pending task fails the test",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    collector = _Collector()
    item.stash[_RECORDS] = collector
    logging.getLogger().addHandler(collector)
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        collector = item.stash.get(_RECORDS, None)
        if collector is not None:
            # tasks left pending by this test are reported when they are collected
            gc.collect()
            logging.getLogger().removeHandler(collector)
            _check(item, collector.records)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    runner = yield
    if fixturedef.argname == RUNNER_FIXTURE:
        # finalizers run last-in first-out: this one runs before the runner closes the loop
        fixturedef.addfinalizer(lambda: _report_pending(runner.get_loop()))
    return runner


def _report_pending(loop: asyncio.AbstractEventLoop) -> None:
    if loop.is_closed():
        return
    for task in asyncio.all_tasks(loop):
        if not task.done():
            logging.getLogger("asyncio").error(
                "Task left pending when the test's loop closed: %r", task
            )


def _check(item: pytest.Item, records: list[logging.LogRecord]) -> None:
    patterns = [re.compile(p) for marker in item.iter_markers(MARKER) for p in marker.args]
    lines = [line for line in map(_first_line, records) if not SDK_TEARDOWN_NOISE.search(line)]
    unexpected = [line for line in lines if not any(p.search(line) for p in patterns)]
    unmatched = [p.pattern for p in patterns if not any(p.search(line) for line in lines)]
    problems: list[str] = []
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected ERROR log line(s) (mark the test "
            f"@pytest.mark.{MARKER}(...) if they are its point):\n  " + "\n  ".join(unexpected[:20])
        )
    if unmatched:
        problems.append(f"expected ERROR log line(s) never logged: {unmatched}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
