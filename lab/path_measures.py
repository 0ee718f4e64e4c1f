"""The figures of one path's calls in one pacer arm: latency, waterfall, heard audio, A/B pairs.

Pure functions over :class:`~lab.path_runner.PathRun`, so the report can be checked on
recorded or synthetic runs. Latency and the waterfall come from the merged turn records
(:mod:`lab.latency`); heard audio from the replies against the clean reply through the
receiver's codecs (:mod:`lab.heard`); the caller-to-agent direction from what the simulator
recorded of each caller turn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.align import align
from lab.bandwidth import fft_bin_bandwidth, welch_bandwidth
from lab.chains import ChainOutput, Receiver, to_receiver
from lab.heard import CLEAN_RATE, HeardFigures, heard_figures
from lab.latency import PathSummary, summarize
from lab.live_plan import GREETING, REPLY, clean_audio, clean_speech
from lab.path_runner import PathRun
from lab.quality import pesq_score


@dataclass(frozen=True)
class Measured:
    run: PathRun
    arm: str
    latency: PathSummary | None
    #: None for the sweep's phases, whose calls are measured for latency only
    heard: HeardFigures | None
    #: what the model heard of the caller (Welch, FFT-bin), over every recorded caller turn
    upstream_welch_hz: float | None
    upstream_fft_bin_hz: float | None
    #: median over turns of transport / response latency
    transport_share: float | None

    @property
    def name(self) -> str:
        return self.run.name

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.run.path,
            "arm": self.arm,
            "receiver": self.run.receiver,
            "latency": self.latency.to_json() if self.latency else None,
            "transport_share": self.transport_share,
            "heard": self.heard.to_json() if self.heard else None,
            "upstream_bandwidth_welch_hz": self.upstream_welch_hz,
            "upstream_bandwidth_fft_bin_hz": self.upstream_fft_bin_hz,
            "pacer_underruns": pacer_underruns(self.run),
            "pacer_late_gaps": pacer_late_gaps(self.run),
            "turns": [r.to_json() for r in self.run.records],
            "calls": self.run.calls,
            "problems": self.run.problems,
        }


@functools.cache
def receiver_reference(receiver: Receiver, text: str) -> ChainOutput:
    return to_receiver(receiver, clean_speech(text))


def reference_for(receiver: Receiver) -> functools.partial[ChainOutput]:
    return functools.partial(_reference, receiver)


def _reference(receiver: Receiver, turn: int) -> ChainOutput:
    return receiver_reference(receiver, GREETING if turn == 0 else REPLY)


def transport_share(run: PathRun) -> float | None:
    shares = [
        transport / latency
        for r in run.records
        if (latency := r.response_latency())
        and (transport := r.stage_durations()["transport"]) is not None
    ]
    return float(np.median(shares)) if shares else None


def _bandwidths(run: PathRun) -> tuple[float | None, float | None]:
    audio = [t.audio for t in run.upstream if len(t.audio)]
    if not audio:
        return None, None
    everything = np.concatenate(audio)
    try:
        return welch_bandwidth(everything, CLEAN_RATE), fft_bin_bandwidth(everything, CLEAN_RATE)
    except ValueError:
        return None, None


def measure(run: PathRun, arm: str, *, audio: bool = True) -> Measured:
    summaries = summarize(run.records)
    heard = heard_figures(run.heard, reference_for(run.receiver), clean_audio) if audio else None
    welch, fft_bin = _bandwidths(run) if audio else (None, None)
    return Measured(
        run=run,
        arm=arm,
        latency=summaries[0] if summaries else None,
        heard=heard,
        upstream_welch_hz=welch,
        upstream_fft_bin_hz=fft_bin,
        transport_share=transport_share(run),
    )


@functools.cache
def chain_pesq(receiver: Receiver) -> tuple[float, float]:
    """PESQ NB / WB of the clean reply through the receiver's codecs alone: the ceiling."""
    sent = clean_audio(1)
    out = receiver_reference(receiver, REPLY)
    pair = align(sent, CLEAN_RATE, out.pcm, out.rate, max_lag_s=0.5)
    nb = pesq_score(pair.reference, pair.degraded, pair.rate, "nb")
    wb = pesq_score(pair.reference, pair.degraded, pair.rate, "wb")
    return nb, wb


def pacer_underruns(run: PathRun) -> tuple[int, float] | None:
    """Underrun events and milliseconds the agent's pacer reported (None: no pacer stats)."""
    stats = [r.pacer for r in run.records if r.pacer]
    if not stats:
        return None
    ms = [v for s in stats if isinstance(v := s.get("underrun_ms"), int | float)]
    return sum(r.underruns() for r in run.records), float(sum(ms))


def pacer_late_gaps(run: PathRun) -> tuple[int, float] | None:
    """Gaps the pacer counted as heard because it sent late (None: no pacer stats): the
    product's own figure, to read against the caller's "playout underruns"."""
    if not any(r.pacer for r in run.records):
        return None
    return sum(r.late_gaps() for r in run.records), sum(r.late_gap_ms() for r in run.records)


def answer_times(run: PathRun) -> dict[tuple[int, int], float]:
    """Turn detected → first audio at the caller, in seconds, per (call number, turn).

    The response latency less the turn detection: two arms' VADs run on audio arriving a few
    ms apart and time the end of speech differently by tens of ms, which is not the pacer's
    doing."""
    order = [c["call_id"] for c in run.calls]
    out = {}
    for r in run.records:
        latency, detect = r.response_latency(), r.stage_durations()["turn_detection"]
        if latency is not None and detect is not None and r.call_id in order:
            out[(order.index(r.call_id), r.turn)] = latency - detect
    return out


def paired_delta_ms(paced: PathRun, unpaced: PathRun) -> list[float]:
    """Per turn answered in both arms (same call number and turn: the same model draws), how
    much later the paced caller got the answer after its turn was detected."""
    a, b = answer_times(paced), answer_times(unpaced)
    return [1000.0 * (a[k] - b[k]) for k in sorted(a.keys() & b.keys())]


def arrival_lead_ms(run: PathRun) -> float | None:
    """How far ahead of real time the agent's audio reached the caller, at most: per reply,
    the audio received so far less the time since its first arrival. A pacer's bounded lead
    shows as tens of ms; model bursts forwarded as they come, as seconds."""
    leads = []
    for turn in run.heard:
        if not turn.arrivals:
            continue
        start = turn.arrivals[0][0]
        received = np.cumsum([seconds for _, seconds in turn.arrivals])
        elapsed = np.array([at - start for at, _ in turn.arrivals])
        leads.append(1000 * float(np.max(received - elapsed)))
    return max(leads) if leads else None


def median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


def draws_aligned(runs: Sequence[PathRun], sessions_per_draw: int = 1) -> list[str]:
    """Problems where two runs' n-th calls were not served by the same seeded draw (the
    simulator's n-th connection draws from stream n // ``sessions_per_draw``)."""
    problems: list[str] = []
    groups = [
        [tuple(n // sessions_per_draw for n in c.get("model_connections", [])) for c in run.calls]
        for run in runs
        if run.calls
    ]
    if not groups:
        return problems
    for n in range(max(len(g) for g in groups)):
        seen = {g[n] for g in groups if n < len(g) and g[n]}
        if len(seen) > 1:
            problems.append(
                f"call {n + 1}: the arms' simulators served it from different seeded draws "
                f"{sorted(seen)}: the A/B pair is not like for like"
            )
    return problems
