"""Per-path latency summaries from turn records: the numbers behind the table and the plots.

Medians and 90th percentiles (numpy's linear interpolation between order statistics) of the
response latency, and the median of each waterfall stage over the turns where both of its
bounds are known, so a missing caller-side timestamp narrows a stage's sample instead of
distorting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lab.paths import CALL_PATHS, CallPath
from lab.turnlog import STAGES, TurnRecord


@dataclass(frozen=True)
class PathSummary:
    path: CallPath
    turns: int
    #: Turns whose response latency is known (the latency figures' sample size).
    latency_turns: int
    latency_median_s: float | None
    latency_p90_s: float | None
    #: Underrun events summed over the turns, and how many turns had any.
    underruns: int
    turns_with_underruns: int
    #: Gaps heard because the process sent late (beyond what the sink held), summed, and
    #: their total length.
    late_gaps: int
    late_gap_ms: float
    #: Median seconds per waterfall stage (None where no turn knows both bounds).
    stage_medians_s: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def latencies_by_path(records: Sequence[TurnRecord]) -> dict[CallPath, list[float]]:
    """Known response latencies per path, in seconds (paths without any are left out)."""
    out: dict[CallPath, list[float]] = {}
    for rec in records:
        latency = rec.response_latency()
        if latency is not None:
            out.setdefault(rec.path, []).append(latency)
    return out


def summarize(records: Sequence[TurnRecord]) -> list[PathSummary]:
    """One summary per path present, in the canonical path order."""
    summaries = []
    for path in CALL_PATHS:
        turns = [r for r in records if r.path == path]
        if not turns:
            continue
        latencies = [lat for r in turns if (lat := r.response_latency()) is not None]
        durations = [r.stage_durations() for r in turns]
        stage_medians = {
            stage: _percentile([d for row in durations if (d := row[stage]) is not None], 50)
            for stage in STAGES
        }
        summaries.append(
            PathSummary(
                path=path,
                turns=len(turns),
                latency_turns=len(latencies),
                latency_median_s=_percentile(latencies, 50),
                latency_p90_s=_percentile(latencies, 90),
                underruns=sum(r.underruns() for r in turns),
                turns_with_underruns=sum(1 for r in turns if r.underruns() > 0),
                late_gaps=sum(r.late_gaps() for r in turns),
                late_gap_ms=sum(r.late_gap_ms() for r in turns),
                stage_medians_s=stage_medians,
            )
        )
    return summaries
