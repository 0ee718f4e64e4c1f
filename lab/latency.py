"""Per-path latency summaries from turn records: the numbers behind the table and the plots.

Medians and 90th percentiles (numpy's linear interpolation between order statistics) of the
response latency, and the median of each waterfall stage over the turns where both of its
bounds are known, so a missing caller-side timestamp narrows a stage's sample instead of
distorting it.

Paths are also compared with each other (:func:`compare_paths`): the difference of median
latency against a baseline path, with a bootstrap interval, so a split of one number's calls
between ``twilio-ws`` and ``sip`` answers whether one path is faster, and by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

from trunkline.paths import CALL_PATHS, CallPath
from trunkline.turnlog import STAGES, TurnRecord


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


#: Bootstrap resamples behind a comparison's confidence interval (seeded: a report reproduces).
RESAMPLES: Final = 4000


@dataclass(frozen=True)
class PathComparison:
    """One path against the baseline path, on the turns each carried (e.g. one number split
    between twilio-ws and sip). The interval is a 95 % bootstrap interval of the difference of
    medians: when it excludes 0, the difference is not the luck of which calls went where."""

    path: CallPath
    baseline: CallPath
    calls: int
    baseline_calls: int
    latency_turns: int
    baseline_latency_turns: int
    median_delta_s: float | None
    median_delta_ci_s: tuple[float, float] | None
    p90_delta_s: float | None
    underrun_turn_share: float | None
    """Share of the path's turns with any pacer underrun (the baseline's beside it)."""
    baseline_underrun_turn_share: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _underrun_share(turns: Sequence[TurnRecord]) -> float | None:
    return sum(1 for t in turns if t.underruns() > 0) / len(turns) if turns else None


def compare_paths(
    records: Sequence[TurnRecord],
    baseline: CallPath = "twilio-ws",
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[PathComparison]:
    """Each other path present, against ``baseline`` (nothing when it has no turns)."""
    by_path = {p: [r for r in records if r.path == p] for p in CALL_PATHS}
    base = by_path[baseline]
    if not base:
        return []
    latencies = latencies_by_path(records)
    base_lat = np.asarray(latencies.get(baseline, []), dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = []
    for path in CALL_PATHS:
        turns = by_path[path]
        if path == baseline or not turns:
            continue
        lat = np.asarray(latencies.get(path, []), dtype=np.float64)
        interval = None
        if len(lat) >= 2 and len(base_lat) >= 2:
            ours = np.median(rng.choice(lat, (resamples, len(lat))), axis=1)
            theirs = np.median(rng.choice(base_lat, (resamples, len(base_lat))), axis=1)
            low, high = np.percentile(ours - theirs, [2.5, 97.5])
            interval = (float(low), float(high))
        out.append(
            PathComparison(
                path=path,
                baseline=baseline,
                calls=len({t.call_id for t in turns}),
                baseline_calls=len({t.call_id for t in base}),
                latency_turns=len(lat),
                baseline_latency_turns=len(base_lat),
                median_delta_s=_delta(_percentile(list(lat), 50), _percentile(list(base_lat), 50)),
                median_delta_ci_s=interval,
                p90_delta_s=_delta(_percentile(list(lat), 90), _percentile(list(base_lat), 90)),
                underrun_turn_share=_underrun_share(turns),
                baseline_underrun_turn_share=_underrun_share(base),
            )
        )
    return out
