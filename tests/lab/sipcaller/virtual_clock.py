"""Virtual time for code with one sleeper at a time (the pacer, one transaction).

Every sleep returns at once, with the clock set to its deadline — plus whatever lateness the
test injects, to play a scheduler that wakes late. Schedules are then checked exactly, with no
wall-clock assertion anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class SteppingClock:
    def __init__(
        self, start: float = 1000.0, lateness: Callable[[int], float] | None = None
    ) -> None:
        self.t = start
        self.sleeps = 0
        self._lateness = lateness or (lambda _n: 0.0)

    def now(self) -> float:
        return self.t

    async def sleep_until(self, deadline: float) -> None:
        self.t = max(self.t, deadline) + self._lateness(self.sleeps)
        self.sleeps += 1
        await asyncio.sleep(0)
