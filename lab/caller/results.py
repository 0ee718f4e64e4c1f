"""What one simulated call measured, and its JSON form (``trunkline call --out``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class BargeIn:
    started_at: float | None
    """When the caller started talking over the agent (epoch seconds)."""
    clear_after_ms: float | None
    """Until the sidecar's ``clear`` arrived."""
    cutoff_ms: float | None
    """Until the last agent audio the caller heard."""


@dataclass
class TurnResult:
    turn: int
    """0 is the greeting (no caller speech before it)."""
    speech_start: float | None
    speech_end: float | None
    first_audio_received: float | None
    first_audio_heard: float | None
    reply_end: float | None
    latency_ms: float | None
    """End of caller speech → first agent audio received (caller side)."""
    heard_ms: float
    gaps: int
    """Times the caller's playout ran dry mid-reply and audio then resumed."""
    gap_ms: float
    barge_in: BargeIn | None = None


@dataclass
class CadenceStats:
    messages: int
    interval_p50_ms: float | None
    interval_p99_ms: float | None
    interval_max_ms: float | None
    buffered_p50_ms: float | None
    buffered_max_ms: float | None
    """Audio already queued at the caller when a media message arrived: the sender's lead."""


def _pct(values: npt.NDArray[np.float64], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def cadence_stats(arrivals: list[float], depth_ms: list[float]) -> CadenceStats:
    """Inter-arrival statistics of the media messages received (continuous runs only)."""
    t = np.asarray(arrivals, dtype=np.float64)
    gaps = np.diff(t) * 1000 if len(t) > 1 else np.zeros(0)
    # Pauses between replies are not cadence: keep intervals below one second.
    gaps = gaps[gaps < 1000]
    depth = np.asarray(depth_ms, dtype=np.float64)
    return CadenceStats(
        messages=len(t),
        interval_p50_ms=_pct(gaps, 50),
        interval_p99_ms=_pct(gaps, 99),
        interval_max_ms=float(gaps.max()) if len(gaps) else None,
        buffered_p50_ms=_pct(depth, 50),
        buffered_max_ms=float(depth.max()) if len(depth) else None,
    )


@dataclass
class CallResult:
    call_sid: str
    started_at: float
    """Epoch seconds of the first media frame: time zero of ``heard``."""
    duration_s: float
    greeting: TurnResult | None
    turns: list[TurnResult]
    cadence: CadenceStats
    marks_acked: int
    clears: int
    hung_up_by: str
    close_code: int | None
    heard: npt.NDArray[np.int16] = field(repr=False)
    """Everything the caller heard, 8 kHz PCM16, silence included, from the call's start."""
    audio: dict[str, Any] = field(default_factory=dict)
    """Quality figures of ``heard`` (bandwidth, gaps), filled in by the report."""
    media: list[tuple[float, int]] = field(default_factory=list, repr=False)
    """Each media message received: arrival (epoch seconds) and μ-law bytes (8 per ms). The
    sender's cadence as the caller saw it, which the lab plots against the ideal frame grid."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("heard")
        data.pop("media")
        return data
