"""The hold a segment would have needed, and how the next hold is chosen from recent needs."""

from __future__ import annotations

import pytest
from livekit.plugins.pacer import AdaptiveHold
from livekit.plugins.pacer._hold import StartRule, longest_stall, needed_hold

F = 160
RATE = 8000


def need(arrivals: list[tuple[float, int]], total: int, flushed_at: float | None = None) -> float:
    return needed_hold(
        arrivals, total_samples=total, flushed_at=flushed_at, frame_samples=F, sample_rate=RATE
    )


def test_a_producer_ahead_of_real_time_needs_no_hold() -> None:
    # 100 ms chunks every 50 ms
    arrivals = [(i * 0.05, i * 800) for i in range(10)]
    assert need(arrivals, 8000) == 0.0


def test_a_stall_longer_than_the_audio_before_it_needs_the_difference() -> None:
    # 60 ms, then 300 ms later the rest: frame 3 (due at +60 ms) waits for it
    assert need([(0.0, 0), (0.3, 480)], 2000) == pytest.approx(0.24)


def test_the_binding_frame_is_the_one_holding_the_chunk_first_sample() -> None:
    # the second chunk starts mid-frame 2 (sample 400): frame 2 is due at +40 ms
    assert need([(0.0, 0), (0.1, 400)], 1000) == pytest.approx(0.06)


def test_a_late_flush_binds_only_a_trailing_partial_frame() -> None:
    assert need([(0.0, 0)], 1600, flushed_at=0.5) == 0.0  # whole frames: no flush needed
    # 1650 samples: the 11th frame (due +200 ms) is partial and waits for the flush
    assert need([(0.0, 0)], 1650, flushed_at=0.5) == pytest.approx(0.3)


def test_no_arrivals_needs_nothing() -> None:
    assert need([], 0) == 0.0


def test_longest_stall() -> None:
    assert longest_stall([(0.0, 0), (0.1, 800), (0.4, 1600), (0.45, 2000)]) == pytest.approx(0.3)
    assert longest_stall([(0.0, 0)]) == 0.0


def test_first_segment_uses_the_initial_hold() -> None:
    for strategy in ("cover", "delay"):
        assert AdaptiveHold(initial=0.06, strategy=strategy).rule() == StartRule(hold=0.06)


def delay_hold(**kw: float) -> AdaptiveHold:
    return AdaptiveHold(strategy="delay", **kw)  # type: ignore[arg-type]


def test_delay_holds_for_a_high_percentile_of_recent_needs() -> None:
    hold = delay_hold(initial=0.06, percentile=0.9, window=10)
    for n in [0.0] * 8 + [0.1, 0.2]:
        hold.observe(needed=n, stall=0.0)
    assert hold.rule().hold == pytest.approx(0.1)  # nearest rank: the 9th of 10
    assert hold.rule().cover is None
    hold.observe(needed=0.0, stall=0.0)  # a 0.0 at the front of the window leaves
    assert hold.rule().hold == pytest.approx(0.1)


def test_old_needs_leave_the_window() -> None:
    hold = delay_hold(window=3)
    hold.observe(needed=0.2, stall=0.3)
    for _ in range(3):
        hold.observe(needed=0.01, stall=0.05)
    assert hold.needs == pytest.approx([0.01] * 3)
    assert hold.stalls == pytest.approx([0.05] * 3)
    assert hold.rule().hold == pytest.approx(0.01)


def test_delay_cap_and_floor() -> None:
    hold = delay_hold(max_hold=0.25, min_hold=0.02)
    hold.observe(needed=2.0, stall=0.0)
    assert hold.rule().hold == 0.25
    low = delay_hold(min_hold=0.02)
    low.observe(needed=0.0, stall=0.0)
    assert low.rule().hold == 0.02


def test_cover_waits_for_the_learned_stall_at_most_max_hold() -> None:
    hold = AdaptiveHold(max_hold=0.25, min_hold=0.01, percentile=0.9)
    hold.observe(needed=0.0, stall=0.28)
    hold.observe(needed=0.1, stall=0.12)
    rule = hold.rule()
    assert (rule.hold, rule.min_hold) == (0.25, 0.01)
    assert rule.cover == pytest.approx(0.28)


def test_not_adaptive_keeps_the_initial_hold() -> None:
    fixed = AdaptiveHold(initial=0.08, adaptive=False)
    fixed.observe(needed=0.2, stall=0.3)
    assert fixed.rule() == StartRule(hold=0.08) and not fixed.adaptive


@pytest.mark.parametrize(
    "kw",
    [
        {"percentile": 0.0},
        {"percentile": 1.5},
        {"window": 0},
        {"min_hold": 0.3},
        {"initial": -1},
        {"strategy": "bytes"},
    ],
)
def test_bad_settings(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        AdaptiveHold(**kw)  # type: ignore[arg-type]
