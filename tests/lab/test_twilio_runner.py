"""Cutting a simulated call's recording into the replies the caller heard."""

from __future__ import annotations

import numpy as np

from lab.caller.results import BargeIn, CallResult, TurnResult, cadence_stats
from lab.twilio_runner import call_summary, heard_turns

T0 = 1_795_000_000.0
FRAME = 160


def reply_turn(n: int, first: int, last: int, **kw: object) -> TurnResult:
    """A turn whose reply played in recording frames ``first..last``, stamped like the caller
    does: each tick dates its frame to the 20 ms before it ran, a few ms late."""
    return TurnResult(
        turn=n,
        speech_start=None if n == 0 else T0 + (first - 60) * 0.02,
        speech_end=None if n == 0 else T0 + (first - 30) * 0.02,
        first_audio_received=T0 + (first - 2) * 0.02,
        first_audio_heard=T0 + (first - 1) * 0.02 + 0.003,
        reply_end=T0 + last * 0.02 + 0.003,
        latency_ms=None if n == 0 else 560.0,
        heard_ms=(last - first + 1) * 20.0,
        gaps=n,
        gap_ms=0.0,
        **kw,  # type: ignore[arg-type]
    )


def call() -> CallResult:
    heard = np.zeros(300 * FRAME, dtype=np.int16)
    heard[10 * FRAME : 30 * FRAME] = 1000  # the greeting, frames 10–29
    heard[100 * FRAME : 200 * FRAME] = np.arange(100 * FRAME) % 2000 + 1  # turn 1, 100–199
    heard[250 * FRAME : 260 * FRAME] = -500  # turn 2, cut short by a barge-in
    barge = BargeIn(started_at=T0 + 5.2, clear_after_ms=420.0, cutoff_ms=400.0)
    return CallResult(
        call_sid="CA1",
        started_at=T0,
        duration_s=6.0,
        greeting=reply_turn(0, 10, 29),
        turns=[reply_turn(1, 100, 199), reply_turn(2, 250, 259, barge_in=barge)],
        cadence=cadence_stats([], []),
        marks_acked=0,
        clears=1,
        hung_up_by="caller",
        close_code=None,
        heard=heard,
        # (arrival, bytes): the greeting, a burst in turn 1, one between turns, one in turn 2
        media=[
            (T0 + 0.19, 3200),
            (T0 + 1.45, 4000),
            (T0 + 1.9, 4000),
            (T0 + 4.2, 160),
            (T0 + 4.5, 160),
        ],
    )


def test_each_reply_is_cut_exactly_from_the_recording() -> None:
    result = call()
    greeting, first, second = heard_turns(result)
    assert [t.turn for t in (greeting, first, second)] == [0, 1, 2]
    assert np.array_equal(greeting.audio, result.heard[10 * FRAME : 30 * FRAME])
    assert np.array_equal(first.audio, result.heard[100 * FRAME : 200 * FRAME])
    assert np.array_equal(second.audio, result.heard[250 * FRAME : 260 * FRAME])
    assert all(t.rate == 8000 and t.call_id == "CA1" for t in (greeting, first, second))
    assert (greeting.receiver_gaps, first.receiver_gaps) == (0, 1)


def test_arrivals_belong_to_the_turn_they_arrived_in() -> None:
    greeting, first, second = heard_turns(call())
    assert greeting.arrivals == ((T0 + 0.19, 0.4),)
    assert first.arrivals == ((T0 + 1.45, 0.5), (T0 + 1.9, 0.5))
    assert second.arrivals == ((T0 + 4.5, 0.02),)


def test_barge_in_figures_come_with_the_interrupted_turn() -> None:
    _, first, second = heard_turns(call())
    assert first.barge_in_clear_ms is None and first.barge_in_cutoff_ms is None
    assert (second.barge_in_clear_ms, second.barge_in_cutoff_ms) == (420.0, 400.0)


def test_a_reply_never_heard_is_left_out() -> None:
    result = call()
    result.turns[1].first_audio_heard = None
    assert [t.turn for t in heard_turns(result)] == [0, 1]


def test_call_summary_is_json_ready() -> None:
    summary = call_summary(call())
    assert summary["call_id"] == "CA1" and summary["clears"] == 1
    assert summary["cadence"]["messages"] == 0  # type: ignore[index]
