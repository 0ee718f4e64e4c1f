"""A turn's pacer figures reach the turn log and Prometheus alike: the gaps the pacer counted as
heard (late sends past the sink's buffer) are exported beside its underruns, so an operator's
dashboard agrees with an independent caller."""

from __future__ import annotations

import time

import pytest
from livekit.plugins.pacer import SegmentStats
from prometheus_client import REGISTRY

from agent.turn_metrics import TurnMetrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_late_gaps_and_underruns_of_a_reply_are_counted_in_the_metrics_and_the_turn_line() -> None:
    labels = {"path": "sip", "pacer": "agent"}
    before = {
        name: sample(name, **labels)
        for name in (
            "trunkline_pacer_late_gaps_total",
            "trunkline_pacer_late_gap_seconds_total",
            "trunkline_pacer_underruns_total",
        )
    }
    metrics = TurnMetrics("call", "sip", writer=None, playback_is_at_caller=False)
    now = time.monotonic()
    seg = SegmentStats(index=0, sample_rate=8000, frame_samples=160, first_audio_at=now)
    seg.first_frame_at = now + 0.05
    seg.late_gaps, seg.late_gap_samples = 2, 480  # 60 ms heard
    seg.underruns = 1
    metrics.on_segment(seg)
    metrics.close()
    (greeting,) = metrics.records
    assert greeting.late_gaps() == 2 and greeting.late_gap_ms() == 60.0
    assert sample("trunkline_pacer_late_gaps_total", **labels) == (
        before["trunkline_pacer_late_gaps_total"] + 2
    )
    assert sample("trunkline_pacer_late_gap_seconds_total", **labels) == pytest.approx(
        before["trunkline_pacer_late_gap_seconds_total"] + 0.06
    )
    assert sample("trunkline_pacer_underruns_total", **labels) == (
        before["trunkline_pacer_underruns_total"] + 1
    )
