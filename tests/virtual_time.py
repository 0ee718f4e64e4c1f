"""An asyncio event loop on virtual time, for whole sessions in one process.

Why: a call through the sidecar (the caller's 20 ms ticks, the pacer's clock, the model's think
time, the marks Twilio echoes) is a schedule of timers. On the wall clock a test of it takes the
call's length, and a busy machine stretches it, so the test can only assert windows ("p50
within 2 ms"). On this loop a timer fires at exactly its time and computing takes no time at all:
when nothing is ready, the clock jumps to the next timer. The same call runs in a fraction of its
length and its figures are exact, so a test states them exactly.

What stays real:

- **Sockets.** Everything a test runs here talks over loopback in this one process. Before the
  clock jumps, the selector gives the kernel a moment (``GRACE_S`` of real time) to deliver what
  was just written, so a jump never overtakes a message in flight.
- **Threads.** While work handed to an executor (``run_in_executor``, ``asyncio.to_thread``)
  is running, the clock stands still and the loop waits for it in real time, as a thread's
  answer has no timer to jump to.
- **Other processes** keep the wall clock: a session that needs one (the real LiveKit server, a
  browser, SIPp) is tested on the wall clock, not here.

What still varies from run to run, and so is not asserted exactly: the last bit of the agent's
audio (livekit's ``rtc.AudioResampler``, which livekit-agents uses to bring the model's 24 kHz to
the output's rate, dithers with a random seed), hence what adaptive playout's time-stretching
makes of it (its stretch and underrun milliseconds); timings do not depend on it.

``time.monotonic()``, ``time.perf_counter()`` and ``time.time()`` read the loop's clock in the
thread that runs it (the caller simulator, the pacer's clock, the turn log and livekit-agents read
those, not ``loop.time()``); elsewhere they stay real. Code that bound ``from time import
monotonic`` at import keeps the real clock: nothing under test here does.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any, TypeVar, TypeVarTuple

import pytest

GRACE_S = 0.0005
"""Real time granted to the kernel before a jump (loopback delivery is nearly instant, but a
busy machine may defer it to a softirq thread)."""

START = 1000.0
"""Where every loop's clock starts. Fixed, so that a run's float arithmetic (a timer at
``start + k * 0.01`` against audio due at ``start + n / 12``) rounds the same way every time:
started at the machine's monotonic reading, two events due at the same instant would come in
either order from one run to the next."""

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

_real_monotonic = time.monotonic
_real_perf_counter = time.perf_counter
_real_time = time.time


class _VirtualSelector(selectors.BaseSelector):
    """A real selector whose waits are jumps of the loop's clock when nothing is ready."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if self._loop.threads_busy() or timeout is None:
            # a thread's answer (or an outside event) comes when it comes: wait for it
            return self._real.select(None if timeout is None else max(timeout, 0.001))
        ready = self._real.select(GRACE_S)
        if not ready:
            self._loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock only moves when it has nothing else to do."""

    def __init__(self) -> None:
        super().__init__(_VirtualSelector(self))
        self._now = START
        self._epoch = float(int(_real_time())) - START
        self._busy = 0
        self._busy_lock = threading.Lock()
        _install_clocks()

    def time(self) -> float:
        return self._now

    def wall(self) -> float:
        """``time.time()`` on this loop: epoch seconds that advance with its clock."""
        return self._epoch + self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def threads_busy(self) -> bool:
        with self._busy_lock:
            return self._busy > 0

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*_Ts], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        with self._busy_lock:
            self._busy += 1
        future = super().run_in_executor(executor, func, *args)
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any]) -> None:
        with self._busy_lock:
            self._busy -= 1

    def close(self) -> None:
        if not self.is_closed():
            _remove_clocks()
        super().close()


def _current() -> VirtualTimeLoop | None:
    loop = asyncio._get_running_loop()
    return loop if isinstance(loop, VirtualTimeLoop) else None


def _monotonic() -> float:
    loop = _current()
    return _real_monotonic() if loop is None else loop.time()


def _perf_counter() -> float:
    loop = _current()
    return _real_perf_counter() if loop is None else loop.time()


def _time() -> float:
    loop = _current()
    return _real_time() if loop is None else loop.wall()


_installed = 0
_install_lock = threading.Lock()


def _install_clocks() -> None:
    global _installed
    with _install_lock:
        if _installed == 0:
            time.monotonic = _monotonic
            time.perf_counter = _perf_counter
            time.time = _time
        _installed += 1


def _remove_clocks() -> None:
    global _installed
    with _install_lock:
        _installed -= 1
        if _installed == 0:
            time.monotonic = _real_monotonic
            time.perf_counter = _real_perf_counter
            time.time = _real_time


@contextmanager
def virtual_loop() -> Iterator[VirtualTimeLoop]:
    """A loop for code that is not a pytest-asyncio test (``loop.run_until_complete``)."""
    loop = VirtualTimeLoop()
    try:
        yield loop
    finally:
        loop.close()


# pytest's side: ``@pytest.mark.virtual_time`` runs a test (and its async fixtures) on this loop.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "virtual_time: run on tests.virtual_time's loop: timers exact, computing instant",
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio asks every async test for its loop; only the marked ones get this one."""
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual": VirtualTimeLoop}
    return {"wall": asyncio.new_event_loop}
