"""The paths section's output from its runs: the all-path table, the pacer A/B, the sweep.

Pure over :class:`~lab.path_runner.PathRun` values (no servers, no calls), so recorded or
synthetic runs produce the same tables, prose, figures and ``lab.json`` data as a live run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab import published
from lab.bandwidth import fft_bin_bandwidth, welch_bandwidth
from lab.heard import CLEAN_RATE, HeardTurn
from lab.live_notes import bullet_list, plan_sentence
from lab.live_plan import LivePlan, clean_audio
from lab.path_measures import (
    Measured,
    arrival_lead_ms,
    chain_pesq,
    draws_aligned,
    measure,
    median,
    pacer_late_gaps,
    pacer_underruns,
    paired_delta_ms,
)
from lab.path_notes import (
    AB_METHOD,
    HEARD_METHOD,
    LATENCY_METHOD,
    SWEEP_METHOD,
    ab_reading,
    rig_sentence,
    sweep_reading,
)
from lab.path_runner import PathRun, Unmeasured
from lab.plots import ReplySeries, latency_cdf, pacer_ab, spectrograms, sweep, waterfall_bars
from lab.sections import SectionResult
from lab.tables import Cells, fmt, markdown_table, rich_table


@dataclass
class PhaseRuns:
    think: str
    plan: LivePlan
    main: bool
    #: arm → runner name → run
    runs: dict[str, dict[str, PathRun]]
    #: consecutive simulator connections that shared one seeded draw
    sessions_per_draw: int = 1


@dataclass
class PathsResult:
    #: what LiveKit the run measured against (one sentence)
    where: str
    phases: list[PhaseRuns]
    unmeasured: list[Unmeasured] = field(default_factory=list)


def _ms(seconds: float | None) -> str:
    return fmt(None if seconds is None else 1000 * seconds)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def _figure(path: Path) -> str:
    return f"![{path.stem}]({path.name})\n"


@functools.cache
def _clean_bandwidths() -> tuple[float, float]:
    reply = clean_audio(1)
    return welch_bandwidth(reply, CLEAN_RATE), fft_bin_bandwidth(reply, CLEAN_RATE)


def _caller_bandwidth(plan: LivePlan) -> float:
    script = plan.caller_script(16000)
    return welch_bandwidth(np.concatenate(list(script.clips)), 16000)


# --- the all-path table -----------------------------------------------------------------


def _stage_cell(m: Measured, stage: str) -> str:
    return _ms(None if m.latency is None else m.latency.stage_medians_s.get(stage))


def _latency_cell(m: Measured) -> str:
    lat = m.latency
    if lat is None:
        return "—"
    return f"{_ms(lat.latency_median_s)} / {_ms(lat.latency_p90_s)} (n={lat.latency_turns})"


def _heard(m: Measured, cell: Callable[[Any], str]) -> str:
    return "—" if m.heard is None else cell(m.heard)


def _pesq_cell(m: Measured) -> str:
    if m.heard is None or m.heard.pesq_nb is None or m.heard.pesq_wb is None:
        return "—"
    nb, wb = chain_pesq(m.run.receiver)
    return f"{m.heard.pesq_nb:.2f} / {m.heard.pesq_wb:.2f} ({nb:.2f} / {wb:.2f})"


def _underrun_cell(m: Measured) -> str:
    pacer = pacer_underruns(m.run)
    agent = "no pacer" if pacer is None else f"{pacer[0]} ({pacer[1]:,.0f} ms)"
    return _heard(m, lambda h: f"{h.receiver_gaps} / {agent}")


#: (key, label, cell, published key, reading)
Row = tuple[
    str,
    str,
    Callable[[Measured], str],
    Callable[[Sequence[Measured], published.Context], str],
]


def _rows() -> list[Row]:
    return [
        ("latency", "response latency median / p90 ms", _latency_cell, published.latency),
        (
            "turn_detection",
            "turn detection ms",
            lambda m: _stage_cell(m, "turn_detection"),
            lambda ps, _c: published.turn_detection(ps),
        ),
        ("model", "model ms", lambda m: _stage_cell(m, "model"), published.model),
        (
            "pacing",
            "pacing ms",
            lambda m: _stage_cell(m, "pacing"),
            lambda ps, _c: published.pacing(ps),
        ),
        (
            "transport",
            "transport ms",
            lambda m: _stage_cell(m, "transport"),
            lambda ps, _c: published.transport(ps),
        ),
        (
            "playout",
            "playout ms (after latency)",
            lambda m: _heard(m, lambda h: fmt(h.playout_ms)),
            lambda ps, _c: published.playout(ps),
        ),
        (
            "transport_share",
            "transport share of latency",
            lambda m: "—" if m.transport_share is None else f"{100 * m.transport_share:.1f} %",
            lambda ps, _c: published.share(ps),
        ),
        (
            "bandwidth_down",
            "BW99 agent → caller, Welch / FFT-bin Hz",
            lambda m: _heard(
                m, lambda h: f"{fmt(h.bandwidth_welch_hz)} / {fmt(h.bandwidth_fft_bin_hz, ',.2f')}"
            ),
            published.bandwidth_down,
        ),
        (
            "bandwidth_up",
            "BW99 caller → agent (what the model heard), Welch / FFT-bin Hz",
            lambda m: f"{fmt(m.upstream_welch_hz)} / {fmt(m.upstream_fft_bin_hz, ',.2f')}",
            published.bandwidth_up,
        ),
        (
            "pesq",
            "PESQ NB / WB vs the clean reply (codecs alone)",
            _pesq_cell,
            lambda ps, _c: published.pesq(ps),
        ),
        (
            "gaps",
            "gaps heard (total)",
            lambda m: _heard(m, lambda h: f"{h.gaps} ({h.gap_ms:,.0f} ms)"),
            lambda ps, _c: published.gaps(ps),
        ),
        (
            "length",
            "reply length heard / sent",
            lambda m: _heard(m, lambda h: fmt(h.length_ratio, ".3f")),
            lambda ps, _c: published.length(ps),
        ),
        (
            "clicks",
            "clicks/min (× clean)",
            lambda m: _heard(
                m,
                lambda h: (
                    fmt(h.clicks_per_min)
                    + ("" if h.clicks_ratio is None else f" (×{h.clicks_ratio:.2f})")
                ),
            ),
            lambda ps, _c: published.clicks(ps),
        ),
        (
            "underruns",
            "playout underruns (caller) / pacer underruns (agent)",
            _underrun_cell,
            lambda ps, _c: published.underruns(ps),
        ),
        (
            "barge_in",
            "barge-in cut-off ms (clear ms)",
            lambda m: _heard(
                m,
                lambda h: (
                    fmt(h.barge_in_cutoff_ms)
                    + ("" if h.barge_in_clear_ms is None else f" ({fmt(h.barge_in_clear_ms)})")
                ),
            ),
            lambda ps, _c: published.barge_in(ps),
        ),
    ]


def all_paths_cells(
    paths: Sequence[Measured], ctx: published.Context
) -> tuple[Cells, dict[str, str]]:
    """Rows of figures (a column per path, one of the published figures, one reading)."""
    rows, readings = [], {}
    for key, label, cell, reading in _rows():
        readings[key] = reading(paths, ctx)
        rows.append(
            [label, *(cell(m) for m in paths), published.PUBLISHED.get(key, "—"), readings[key]]
        )
    return Cells(["", *(m.name for m in paths), "published", "reading"], rows), readings


# --- the pacer A/B ----------------------------------------------------------------------


def ab_cells(pairs: Sequence[tuple[Measured, Measured]]) -> Cells:
    rows = []
    for paced, unpaced in pairs:
        deltas = paired_delta_ms(paced.run, unpaced.run)
        for m in (paced, unpaced):
            h = m.heard
            pacer = pacer_underruns(m.run)
            late = pacer_late_gaps(m.run)
            rows.append(
                [
                    m.name,
                    m.arm,
                    _latency_cell(m),
                    fmt(median(deltas)) if m is paced else "reference",
                    "—" if h is None else f"{h.gaps} ({h.gap_ms:,.0f} ms)",
                    "—" if h is None else str(h.receiver_gaps),
                    "no pacer" if late is None else f"{late[0]} ({late[1]:,.0f} ms)",
                    "no pacer" if pacer is None else f"{pacer[0]} ({pacer[1]:,.0f} ms)",
                    "—"
                    if h is None or h.clicks_ratio is None
                    else f"{fmt(h.clicks_per_min)} (×{h.clicks_ratio:.2f})",
                    "—" if h is None else fmt(h.pesq_nb, ".2f"),
                    "—" if h is None else fmt(h.length_ratio, ".3f"),
                    "—" if h is None else fmt(h.barge_in_cutoff_ms),
                    fmt(arrival_lead_ms(m.run)),
                ]
            )
    return Cells(
        headers=[
            "path",
            "arm",
            "latency median / p90 ms",
            "paced later by (ms, paired)",
            "gaps heard",
            "playout underruns",
            "pacer late gaps",
            "pacer underruns",
            "clicks/min (× clean)",
            "PESQ NB",
            "reply length heard / sent",
            "barge-in cut-off ms",
            "ahead of real time at the caller, max ms",
        ],
        rows=rows,
    )


# --- the sweep --------------------------------------------------------------------------


def sweep_points(phases: Sequence[PhaseRuns]) -> dict[str, list[dict[str, Any]]]:
    """Per path, one point per phase: model stage, latency, transport and its share (paced)."""
    points: dict[str, list[dict[str, Any]]] = {}
    for phase in phases:
        for name, run in phase.runs.get("paced", {}).items():
            m = measure(run, "paced", audio=False)
            lat = m.latency
            stages = lat.stage_medians_s if lat else {}
            points.setdefault(name, []).append(
                {
                    "think": phase.think,
                    "turns": lat.latency_turns if lat else 0,
                    "model_ms": _to_ms(stages.get("model")),
                    "latency_ms": _to_ms(lat.latency_median_s if lat else None),
                    "transport_ms": _to_ms(stages.get("transport")),
                    "share": m.transport_share,
                    "turn_detection_ms": _to_ms(stages.get("turn_detection")),
                    "pacing_ms": _to_ms(stages.get("pacing")),
                }
            )
    return points


def _to_ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def sweep_cells(points: dict[str, list[dict[str, Any]]]) -> Cells:
    rows = []
    for name, series in points.items():
        for p in series:
            rows.append(
                [
                    name,
                    p["think"],
                    str(p["turns"]),
                    fmt(p["model_ms"]),
                    fmt(p["latency_ms"]),
                    fmt(p["transport_ms"]),
                    "—" if p["share"] is None else f"{100 * p['share']:.1f} %",
                ]
            )
    return Cells(
        ["path", "think", "turns", "model ms", "latency ms", "transport ms", "transport share"],
        rows,
    )


# --- figures ----------------------------------------------------------------------------


def _first_complete(run: PathRun) -> HeardTurn | None:
    calls = list(dict.fromkeys(t.call_id for t in run.heard))
    for call in calls:
        for t in run.heard:
            if t.call_id == call and t.turn > 0 and not t.interrupted and len(t.audio):
                return t
    return None


def _figures(
    out: Path, main: dict[str, dict[str, Measured]], points: dict[str, list[dict[str, Any]]]
) -> dict[str, Path]:
    figures: dict[str, Path] = {}
    paced = main.get("paced", {})
    latencies = {
        name: [x for r in m.run.records if (x := r.response_latency()) is not None]
        for name, m in paced.items()
    }
    if any(latencies.values()):
        figures["cdf"] = latency_cdf(latencies, out / "paths-latency-cdf.png")
    medians = {name: m.latency.stage_medians_s for name, m in paced.items() if m.latency}
    if medians:
        figures["waterfall"] = waterfall_bars(
            medians,
            out / "paths-waterfall.png",
            title="Where the time goes per path (pacer on, median per stage)",
        )
    down = {"clean reply, as the model sent it": (clean_audio(1), CLEAN_RATE)}
    up = {}
    for name, m in paced.items():
        reply = _first_complete(m.run)
        if reply is not None:
            down[f"{name}: heard by the caller"] = (reply.audio, reply.rate)
        heard = next((t for t in m.run.upstream if t.turn == 1 and len(t.audio)), None)
        if heard is not None:
            up[f"{name}: the caller as the model heard it"] = (heard.audio, heard.rate)
    if len(down) > 1:
        figures["spectrograms"] = spectrograms(
            down, out / "paths-spectrograms.png", title="Agent → caller: one reply on each path"
        )
    if up:
        figures["spectrograms-up"] = spectrograms(
            up,
            out / "paths-spectrograms-up.png",
            title="Caller → agent: the first caller turn as the model heard it",
        )
    series: dict[str, dict[str, ReplySeries]] = {}
    for arm, by_name in main.items():
        for name, m in by_name.items():
            reply = _first_complete(m.run)
            if reply is not None:
                series.setdefault(name, {})[arm] = ReplySeries(
                    reply.arrivals, reply.audio, reply.rate
                )
    if series:
        figures["pacer-ab"] = pacer_ab(series, out / "paths-pacer-ab.png")
    curve = {
        name: [(p["model_ms"], 100 * p["share"]) for p in ps if p["model_ms"] and p["share"]]
        for name, ps in points.items()
    }
    if any(len(c) > 1 for c in curve.values()):
        figures["sweep"] = sweep(curve, out / "paths-sweep.png")
    return figures


# --- the section ------------------------------------------------------------------------


def paths_result(result: PathsResult, out: Path, key: str, title: str) -> SectionResult:
    main_phase = next((p for p in result.phases if p.main), None)
    main: dict[str, dict[str, Measured]] = {}
    if main_phase is not None:
        main = {
            arm: {name: measure(run, arm) for name, run in by_name.items()}
            for arm, by_name in main_phase.runs.items()
        }
    paced = list(main.get("paced", {}).values())
    pairs = [
        (m, main["unpaced"][name])
        for name, m in main.get("paced", {}).items()
        if name in main.get("unpaced", {})
    ]
    welch, fft_bin = _clean_bandwidths()
    ctx = published.Context(
        think=main_phase.think if main_phase else "—",
        clean_welch_hz=welch,
        clean_fft_bin_hz=fft_bin,
        caller_welch_hz=_caller_bandwidth(main_phase.plan) if main_phase else 0.0,
    )
    table, readings = all_paths_cells(paced, ctx)
    ab = ab_cells(pairs)
    ab_readings = {p.name: ab_reading(p, u, paired_delta_ms(p.run, u.run)) for p, u in pairs}
    points = sweep_points(result.phases)
    sweep_table = sweep_cells(points)
    sweep_text = sweep_reading(points, {m.name: m for m in paced})
    figures = _figures(out, main, points)
    problems = [
        f"{p.think} {arm} {name}: {problem}"
        for p in result.phases
        for arm, by_name in p.runs.items()
        for name, run in by_name.items()
        for problem in run.problems
    ]
    for phase in result.phases:
        for name in phase.runs.get("paced", {}):
            runs = [by_name[name] for by_name in phase.runs.values() if name in by_name]
            problems += [
                f"{phase.think} {name}: {p}" for p in draws_aligned(runs, phase.sessions_per_draw)
            ]
    not_measured = [f"{u.name}: not measured — {u.reason}" for u in result.unmeasured]

    md = [rig_sentence(result.where), ""]
    if main_phase is not None:
        md += [plan_sentence(main_phase.plan, "Main phase, on every path and in both arms"), ""]
    if not_measured:
        md += ["Paths not measured in this run:", "", bullet_list(not_measured)]
    md += [
        "### All paths side by side (pacer on)",
        "",
        markdown_table(table),
        LATENCY_METHOD,
        HEARD_METHOD,
    ]
    for k in ("cdf", "waterfall", "spectrograms", "spectrograms-up"):
        if k in figures:
            md.append(_figure(figures[k]))
    md += ["### Pacer A/B per path", "", markdown_table(ab)]
    md += [f"- **{name}**: {text}" for name, text in ab_readings.items()]
    md += ["", AB_METHOD]
    if "pacer-ab" in figures:
        md.append(_figure(figures["pacer-ab"]))
    md += ["### Model timing sweep", "", markdown_table(sweep_table), sweep_text, "", SWEEP_METHOD]
    if "sweep" in figures:
        md.append(_figure(figures["sweep"]))
    if problems:
        md += ["### Problems in this run", "", bullet_list(problems)]

    terminal = Cells(table.headers[:-1], [row[:-1] for row in table.rows])
    return SectionResult(
        key=key,
        title=title,
        data={
            "where": result.where,
            "not_measured": {u.name: u.reason for u in result.unmeasured},
            "phases": [
                {
                    "think": p.think,
                    "main": p.main,
                    "plan": {
                        "calls": p.plan.calls,
                        "turns": p.plan.turns,
                        "barge_in_turns": sorted(p.plan.barge_in_turns),
                        "seed": p.plan.seed,
                        "chunking": p.plan.chunking,
                    },
                    "runs": {
                        arm: {
                            name: (
                                main[arm][name].to_json()
                                if p.main and arm in main and name in main[arm]
                                else measure(run, arm, audio=False).to_json()
                            )
                            for name, run in by_name.items()
                        }
                        for arm, by_name in p.runs.items()
                    },
                }
                for p in result.phases
            ],
            "readings": readings,
            "published": published.PUBLISHED,
            "pacer_ab": {
                name: {
                    "paired_paced_minus_unpaced_ms": paired_delta_ms(p.run, u.run),
                    "reading": ab_readings[name],
                }
                for name, (p, u) in zip(ab_readings, pairs, strict=True)
            },
            "sweep": points,
            "problems": problems,
        },
        markdown="\n".join(md),
        tables=[
            rich_table(terminal, "All paths side by side (pacer on)"),
            rich_table(ab, "Pacer A/B per path"),
            rich_table(sweep_table, "Model timing sweep (pacer on)"),
        ],
        figures=list(figures.values()),
        notes=[
            *(f"{label}: {readings[key]}" for key, label, *_ in _rows()),
            *(f"pacer A/B, {name}: {text}" for name, text in ab_readings.items()),
            sweep_text,
        ],
    )
