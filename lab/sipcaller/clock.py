"""The time source for pacing and SIP timers, injectable so tests run on virtual time.

Everything time-driven in the user agent — the 20 ms RTP schedule, Timer A/B/E/F, arrival
stamps — asks one :class:`Clock`, so a test can substitute a clock whose sleeps return at once
at their deadline and check the schedule exactly, without wall-clock assertions.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return at ``deadline`` or as soon after as the scheduler allows."""
        ...


class MonotonicClock:
    """``time.monotonic``, the clock asyncio's own timers run on."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
