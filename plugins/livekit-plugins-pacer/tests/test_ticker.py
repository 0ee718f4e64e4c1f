"""The shared ticker: absolute grid, one timer per occupied slot, bookings move and cancel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from livekit.plugins.pacer._clock import TimerHandle
from livekit.plugins.pacer._ticker import shared_ticker
from livekit.plugins.pacer.testing import Ticker, VirtualClock


class Client:
    def __init__(self, clock: VirtualClock, every: int | None = None) -> None:
        self.clock = clock
        self.every = every
        self.woken: list[float] = []
        self.slot = 0
        self.tick_slot: int | None = None

    def on_tick(self, now: float) -> int | None:
        self.woken.append(now)
        if self.every is None:
            return None
        self.slot += self.every
        return self.slot


class CountingClock(VirtualClock):
    def __init__(self) -> None:
        super().__init__(start=1000.0)
        self.timers = 0

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        self.timers += 1
        return super().call_at(when, callback)


def test_grid_is_absolute(clock: VirtualClock, ticker: Ticker) -> None:
    assert ticker.slot_time(0) == 1000.0
    assert ticker.slot_time(6000) == pytest.approx(1060.0, abs=1e-9)
    assert ticker.slot_at_or_after(1000.001) == 1
    assert ticker.slot_at_or_after(1000.01) == 1
    assert ticker.slot_at_or_before(1000.019) == 1


def test_a_minute_of_ticks_lands_exactly_on_the_grid(clock: VirtualClock, ticker: Ticker) -> None:
    client = Client(clock, every=2)
    ticker.book(client, 0)
    clock.advance(60.0)
    assert len(client.woken) == 3001
    for n, at in enumerate(client.woken):
        assert at == pytest.approx(1000.0 + n * 0.02, abs=1e-9)


def test_rebooking_moves_and_cancel_forgets(clock: VirtualClock, ticker: Ticker) -> None:
    a, b = Client(clock), Client(clock)
    ticker.book(a, 5)
    ticker.book(a, 3)
    ticker.book(b, 4)
    ticker.cancel(b)
    assert ticker.is_booked(a) and not ticker.is_booked(b)
    clock.advance(1.0)
    assert a.woken == [pytest.approx(1000.03)]
    assert b.woken == []
    assert not ticker.is_booked(a)


def test_streams_due_together_share_one_timer() -> None:
    clock = CountingClock()
    ticker = Ticker(clock)
    clients = [Client(clock, every=2) for _ in range(50)]
    for c in clients:
        ticker.book(c, 0)
    clock.advance(1.0)
    assert all(len(c.woken) == 51 for c in clients)
    assert clock.timers <= 52


def test_late_wakeup_is_seen_by_clients_and_past_slots_are_not_rebooked(
    clock: VirtualClock, ticker: Ticker
) -> None:
    client = Client(clock, every=1)
    ticker.book(client, 1)
    clock.lag = 0.035
    clock.advance(0.046)
    assert client.woken == [pytest.approx(1000.045)]
    # it asked for slot 2, already past: it is woken at the next slot, not in a burst
    clock.lag = 0.0
    clock.advance(0.0039)
    assert len(client.woken) == 1
    clock.advance(0.0002)
    assert client.woken[1] == pytest.approx(1000.05)


@pytest.mark.expect_log(r"paced stream failed on tick")
def test_a_failing_client_does_not_stop_the_others(clock: VirtualClock, ticker: Ticker) -> None:
    class Broken:
        tick_slot: int | None = None

        def on_tick(self, now: float) -> int | None:
            raise RuntimeError("boom")

    good = Client(clock, every=1)
    ticker.book(Broken(), 1)
    ticker.book(good, 1)
    clock.advance(0.05)
    assert len(good.woken) == 5


async def test_shared_ticker_is_one_per_loop() -> None:
    assert shared_ticker() is shared_ticker()
