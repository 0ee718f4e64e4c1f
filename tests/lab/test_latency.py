"""Per-path summaries on turn sets whose medians and percentiles are known."""

from __future__ import annotations

import pytest

from lab.latency import compare_paths, latencies_by_path, summarize
from trunkline.turnlog import TurnRecord

T0 = 1_795_000_000.0


def turn(
    path: str, n: int, latency: float, *, underruns: int = 0, model: float = 1.0
) -> TurnRecord:
    return TurnRecord(
        call_id=f"{path}-call",
        path=path,  # type: ignore[arg-type]
        turn=n,
        caller_speech_end=T0,
        turn_detected=T0 + 0.2,
        model_first_audio=T0 + 0.2 + model,
        caller_first_audio=T0 + latency,
        pacer={"underruns": underruns, "late_gaps": underruns, "late_gap_ms": 20.0 * underruns},
    )


def test_counts_percentiles_underruns_and_stage_medians() -> None:
    records = [
        turn("sip", n, 1.0 + 0.1 * n, underruns=n % 2, model=0.5 + 0.1 * n) for n in range(10)
    ]
    records += [turn("twilio-ws", 0, 2.0)]
    (tw, sip) = summarize(records)  # canonical order: twilio-ws, sip, webrtc
    assert (tw.path, sip.path) == ("twilio-ws", "sip")
    assert sip.turns == sip.latency_turns == 10
    assert sip.latency_median_s == pytest.approx(1.45)
    assert sip.latency_p90_s == pytest.approx(1.81)  # linear between the 9th and 10th
    assert (sip.underruns, sip.turns_with_underruns) == (5, 5)
    assert (sip.late_gaps, sip.late_gap_ms) == (5, 100.0)
    assert sip.stage_medians_s["turn_detection"] == pytest.approx(0.2, abs=1e-6)
    assert sip.stage_medians_s["model"] == pytest.approx(0.95, abs=1e-6)
    # No turn knows the pacer's first frame: both stages around it are unknown, not zero.
    assert sip.stage_medians_s["pacing"] is None and sip.stage_medians_s["transport"] is None
    assert tw.turns == 1 and tw.latency_median_s == tw.latency_p90_s == pytest.approx(2.0)


def test_turns_without_latency_count_but_do_not_skew() -> None:
    records = [turn("webrtc", 0, 1.0), TurnRecord("w", "webrtc", 1, turn_detected=T0)]
    (summary,) = summarize(records)
    assert (summary.turns, summary.latency_turns) == (2, 1)
    assert summary.latency_median_s == pytest.approx(1.0)
    assert latencies_by_path(records) == {"webrtc": [pytest.approx(1.0)]}


def test_nothing_in_nothing_out() -> None:
    assert summarize([]) == []
    (summary,) = summarize([TurnRecord("c", "sip", 0)])
    assert summary.latency_median_s is None and summary.latency_p90_s is None


def split_number(shift_s: float, n: int = 40) -> list[TurnRecord]:
    """One number's calls split between the paths: the same spread of latencies on each, the
    sip path's moved by ``shift_s``; one turn in four of the sip calls with an underrun."""
    spread = [1.0 + 0.5 * ((7 * i) % n) / n for i in range(n)]
    return [
        *(turn("twilio-ws", i, spread[i]) for i in range(n)),
        *(turn("sip", i, spread[i] + shift_s, underruns=int(i % 4 == 0)) for i in range(n)),
    ]


def test_a_path_slower_by_a_fixed_amount_shows_it_with_an_interval_excluding_zero() -> None:
    (sip,) = compare_paths(split_number(0.3))
    assert (sip.path, sip.baseline) == ("sip", "twilio-ws")
    assert sip.median_delta_s == pytest.approx(0.3) and sip.p90_delta_s == pytest.approx(0.3)
    assert sip.median_delta_ci_s is not None
    low, high = sip.median_delta_ci_s
    assert 0 < low <= 0.3 <= high
    assert (sip.latency_turns, sip.baseline_latency_turns) == (40, 40)
    assert (sip.underrun_turn_share, sip.baseline_underrun_turn_share) == (0.25, 0.0)
    assert compare_paths(split_number(0.3)) == [sip]  # seeded: the same report every time


def test_paths_that_do_not_differ_get_an_interval_around_zero() -> None:
    (sip,) = compare_paths(split_number(0.0))
    assert sip.median_delta_s == 0.0
    assert sip.median_delta_ci_s is not None
    low, high = sip.median_delta_ci_s
    assert low < 0 < high


def test_nothing_to_compare_without_the_baseline_and_no_interval_from_one_turn() -> None:
    assert compare_paths([turn("sip", 0, 1.0)]) == []
    (web,) = compare_paths([turn("twilio-ws", 0, 1.0), turn("webrtc", 0, 0.8)])
    assert web.median_delta_s == pytest.approx(-0.2) and web.median_delta_ci_s is None
    (ws,) = compare_paths(split_number(0.1), baseline="sip")
    assert ws.path == "twilio-ws" and ws.median_delta_s == pytest.approx(-0.1)
