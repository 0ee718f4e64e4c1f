"""The rtc.AudioSource A/B: exact silence counting, the producer's schedule, a short real run."""

from __future__ import annotations

import numpy as np
import pytest

from lab.live_plan import clean_audio
from lab.source_ab import RATE, measure, never_zero, schedule, source_ab


def test_never_zero_only_raises_exact_zeros() -> None:
    pcm = np.array([0, -1, 0, 5, 32767, -32768], dtype=np.int16)
    assert never_zero(pcm).tolist() == [1, -1, 1, 5, 32767, -32768]
    assert never_zero(clean_audio(1)).all()


def test_the_schedule_is_the_simulators_bursty_plan() -> None:
    plan = schedule(RATE * 5, seed=3)
    assert sum(n for n, _ in plan) == RATE * 5
    assert plan[0][1] == 0.0  # the first chunk goes at once; think time is not measured here
    assert all(0.05 * RATE <= n <= 0.5 * RATE for n, _ in plan[:-1])
    assert plan == schedule(RATE * 5, seed=3) and plan != schedule(RATE * 5, seed=4)


def test_measure_counts_inserted_zeros_exactly() -> None:
    sent = never_zero(clean_audio(1))[:4800]
    silence = np.zeros(240, np.int16)
    frames = [
        (10.000, silence),
        (10.010, sent[:1000]),
        (10.052, np.zeros(120, np.int16)),  # 5 ms inserted
        (10.060, sent[1000:]),
        (10.260, silence),
    ]
    turn = measure(frames, sent, t_first=9.990)
    assert turn.silence_ms == pytest.approx(5.0) and turn.events == 1
    assert turn.first_audio_ms == pytest.approx(20.0)
    assert turn.exact and turn.missing_samples == 0
    assert turn.seconds == pytest.approx((len(sent) + 120) / RATE)


def test_measure_reports_lost_samples() -> None:
    sent = never_zero(clean_audio(1))[:4800]
    turn = measure([(1.0, sent[:-78])], sent, t_first=1.0)
    assert turn.missing_samples == 78 and not turn.exact and turn.events == 0


def test_measure_refuses_a_silent_track() -> None:
    with pytest.raises(RuntimeError, match="only silence"):
        measure([(1.0, np.zeros(240, np.int16))], np.ones(10, np.int16), t_first=1.0)
    with pytest.raises(RuntimeError, match="no frames"):
        measure([], np.ones(10, np.int16), t_first=1.0)


@pytest.mark.slow
async def test_both_arms_through_a_real_audio_source() -> None:
    unpaced, paced = await source_ab(clean_audio(1)[: RATE * 2], 2, seed=1, on_turn=lambda: None)
    for arm in (unpaced, paced):
        assert len(arm.turns) == 2
        for t in arm.turns:
            assert (t.events > 0) == (t.silence_ms > 0)
            sound = RATE * 2 - t.missing_samples
            assert t.seconds == pytest.approx((sound + t.silence_ms * RATE / 1000) / RATE)
    # the pacer pads its last frame, so every sample leaves the source, bit for bit
    assert all(t.exact and t.missing_samples == 0 for t in paced.turns)
    # the first reply waits for the pacer's initial 60 ms hold
    assert paced.turns[0].first_audio_ms >= 55 and paced.turns[0].hold_ms == pytest.approx(60.0)
    assert all(t.hold_ms is None for t in unpaced.turns)
    summary = paced.summary(clean_clicks_per_min=100.0)
    assert summary["arm"] == "paced" and summary["bit_exact"] and summary["turns"] == 2
