"""A drift-free 20 ms tick: absolute deadlines, never ``sleep(0.02)`` in a loop.

Tick *n* is due at ``start + n·period``. A tick that wakes late is sent at once and the next
deadline is still the absolute one, so scheduler jitter never accumulates into drift and the RTP
clock (160 samples a tick) keeps pace with real time over a call of any length. A stall longer
than ``stall_after`` (the process was descheduled, a debugger paused it) re-anchors the schedule
instead of firing the missed ticks back to back: the far end sees one late packet and a gap in
arrival, as from a real phone, never a burst. Stalls are counted so a measurement can discard
the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab.sipcaller.clock import Clock

PERIOD_S = 0.02


@dataclass
class PacerStats:
    ticks: int = 0
    stalls: int = 0
    """Times the schedule was re-anchored because a tick was more than ``stall_after`` late."""
    max_lateness_s: float = 0.0
    """Worst lateness of a tick against its deadline (stalls included)."""


async def pace(
    clock: Clock,
    on_tick: Callable[[int, float], None],
    stats: PacerStats,
    *,
    period: float = PERIOD_S,
    stall_after: float = 0.2,
) -> None:
    """Call ``on_tick(n, now)`` for n = 0, 1, 2… on schedule, until cancelled."""
    start = clock.now()
    n = 0
    while True:
        deadline = start + n * period
        await clock.sleep_until(deadline)
        now = clock.now()
        lateness = now - deadline
        stats.max_lateness_s = max(stats.max_lateness_s, lateness)
        if lateness > stall_after:
            stats.stalls += 1
            start = now - n * period
        on_tick(n, now)
        stats.ticks += 1
        n += 1
