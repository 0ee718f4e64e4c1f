"""Where the pacer reads time and sets timers, so tests can drive it without real sleeps.

Production uses the event loop's timers against ``time.monotonic()``; tests use
:class:`VirtualClock` and move time by hand, which makes every timing behaviour (deadlines,
lateness, holds, underruns) exact and repeatable on a noisy machine.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds and one-shot timers at absolute times."""

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class LoopClock:
    """``time.monotonic()`` with timers on an asyncio loop.

    ``now()`` is ``time.monotonic()`` rather than ``loop.time()`` because some loops (uvloop)
    round their time to milliseconds, and the stats report monotonic times that other parts of
    a process (latency waterfalls) compare with their own ``time.monotonic()`` readings.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_later(max(0.0, when - time.monotonic()), callback)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when told to; timers fire in time order as it moves.

    ``lag`` makes every timer fire that many seconds late, which is how tests reproduce a busy
    event loop without one.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()
        self.lag = 0.0

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _VirtualTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer that falls due on the way."""
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        while self._timers:
            due, _, timer = self._timers[0]
            fire_at = due + self.lag
            if fire_at > when:
                break
            heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, fire_at)
            timer.callback()
        self._now = max(self._now, when)

    @property
    def next_timer(self) -> float | None:
        """When the next live timer is due (before ``lag``), or None."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None
