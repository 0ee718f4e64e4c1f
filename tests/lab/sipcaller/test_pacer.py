from __future__ import annotations

import itertools

import pytest

from lab.sipcaller.pacer import PacerStats, pace

from .virtual_clock import SteppingClock


class Enough(Exception):
    pass


async def run(clock: SteppingClock, ticks: int) -> tuple[list[tuple[int, float]], PacerStats]:
    seen: list[tuple[int, float]] = []

    def on_tick(n: int, now: float) -> None:
        seen.append((n, now))
        if len(seen) == ticks:
            raise Enough

    stats = PacerStats()
    with pytest.raises(Enough):
        await pace(clock, on_tick, stats)
    return seen, stats


async def test_ticks_fall_on_absolute_deadlines() -> None:
    seen, stats = await run(SteppingClock(start=50.0), 500)
    assert [n for n, _ in seen] == list(range(500))
    assert [t for _, t in seen] == [pytest.approx(50.0 + 0.02 * n, abs=1e-9) for n in range(500)]
    assert stats.stalls == 0 and stats.ticks == 499  # the 500th raised before being counted


async def test_late_wakeups_do_not_accumulate_into_drift() -> None:
    """Every sleep wakes 7 ms late; tick 1000 is still due at 20 s, and sent at 20.007 s."""
    clock = SteppingClock(start=0.0, lateness=lambda _n: 0.007)
    seen, stats = await run(clock, 1001)
    assert seen[1000][1] == pytest.approx(20.007, abs=1e-6)
    assert stats.max_lateness_s == pytest.approx(0.007) and stats.stalls == 0


async def test_a_stall_is_re_anchored_never_caught_up_in_a_burst() -> None:
    clock = SteppingClock(start=0.0, lateness=lambda n: 0.5 if n == 10 else 0.0)
    seen, stats = await run(clock, 20)
    times = [t for _, t in seen]
    assert times[10] == pytest.approx(0.7)  # due at 0.2, woke 0.5 s late
    gaps = [b - a for a, b in itertools.pairwise(times[10:])]
    assert gaps == [pytest.approx(0.02)] * 9  # no packets fired back to back
    assert [n for n, _ in seen] == list(range(20))  # media time stays contiguous
    assert stats.stalls == 1 and stats.max_lateness_s == pytest.approx(0.5)
