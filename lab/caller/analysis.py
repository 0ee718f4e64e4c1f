"""What a simulated caller's result means: audio figures of what was heard, and turn lines.

The caller is the only party that knows when it stopped speaking; it contributes that (and the
latency it measured) to the shared turn log, and the agent's side contributes the rest.
"""

from __future__ import annotations

from lab.bandwidth import NoActiveAudio, fft_bin_bandwidth, welch_bandwidth
from lab.caller.results import CallResult
from sip.twilio.protocol import SAMPLE_RATE
from trunkline.paths import CallPath
from trunkline.turnlog import JsonValue, TurnRecord


def audio_figures(result: CallResult) -> dict[str, JsonValue]:
    """Bandwidth (Welch, activity-gated, and the labelled FFT-bin method) and playout gaps.

    No click count: the lab's detector scores clean synthetic speech at 300–430 per minute on
    its own (measured on the simulator's replies at 24 kHz, 8 kHz and through μ-law), so a bare
    count of one call says nothing; ``trunkline lab`` reports clicks against a clean reference.
    """
    heard = result.heard
    figures: dict[str, JsonValue] = {
        "heard_seconds": round(len(heard) / SAMPLE_RATE, 2),
        "playout_gaps": sum(t.gaps for t in result.turns)
        + (result.greeting.gaps if result.greeting else 0),
    }
    try:
        figures["bandwidth_99_welch_hz"] = round(welch_bandwidth(heard, SAMPLE_RATE))
        figures["bandwidth_99_fft_bin_hz"] = fft_bin_bandwidth(heard, SAMPLE_RATE)
    except NoActiveAudio:
        figures["bandwidth_99_welch_hz"] = None
    return figures


def turn_records(result: CallResult, path: CallPath = "twilio-ws") -> list[TurnRecord]:
    """The caller's half of each turn line: when it stopped speaking, the latency it measured."""
    records = []
    for t in result.turns:
        latency = None if t.latency_ms is None else round(t.latency_ms / 1000, 4)
        records.append(
            TurnRecord(
                call_id=result.call_sid,
                path=path,
                turn=t.turn,
                caller_speech_end=t.speech_end,
                latency_s=latency,
                source="caller",
            )
        )
    return records
