"""Section (b) of ``trunkline lab``: live simulated calls on every path reachable here.

Each path runner places the same plan of calls; per path the section shows the response
latency distribution, where the time goes (the merged turn-log waterfall, as stacked bars per
path and per turn), and what the caller heard (bandwidth, gaps, clicks, barge-in), with a
spectrogram. Paths this run cannot reach are listed with the reason and no numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.progress import TaskID

from lab.chains import MODEL_RATE
from lab.heard import HeardFigures, HeardTurn, heard_figures
from lab.latency import PathSummary, summarize
from lab.live_notes import (
    HEARD_METHOD,
    LATENCY_METHOD,
    SPECTROGRAM_NOTE,
    bullet_list,
    plan_sentence,
    where_the_time_goes,
)
from lab.live_plan import LivePlan, clean_audio, path_reference
from lab.path_runner import PathRun, PathRunner, Unmeasured
from lab.plots import latency_cdf, spectrograms, waterfall_bars
from lab.sections import LabContext, SectionResult
from lab.tables import Cells, heard_cells, latency_cells, markdown_table, rich_table
from lab.turnlog import TurnRecord


def advance(ctx: LabContext, task: TaskID, _call: int) -> None:
    ctx.progress.advance(task)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def figure_link(path: Path) -> str:
    return f"![{path.stem}]({path.name})\n"


@dataclass(frozen=True)
class MeasuredPath:
    run: PathRun
    latency: PathSummary | None
    heard: HeardFigures


def measure_path(run: PathRun) -> MeasuredPath:
    summaries = summarize(run.records)
    return MeasuredPath(
        run, summaries[0] if summaries else None, heard_figures(run.heard, path_reference(run.path))
    )


def named_latency_cells(measured: Sequence[MeasuredPath]) -> Cells:
    """The report's latency table, one row per runner (two runners may share a path label)."""
    with_latency = [m for m in measured if m.latency is not None]
    cells = latency_cells([m.latency for m in with_latency if m.latency is not None])
    for row, m in zip(cells.rows, with_latency, strict=True):
        row[0] = m.run.name
    return cells


def turn_waterfalls(records: Sequence[TurnRecord]) -> dict[str, dict[str, float | None]]:
    """Each caller turn's own stage durations, labelled call/turn, in call order."""
    calls = list(dict.fromkeys(r.call_id for r in records))
    return {
        f"call {calls.index(r.call_id) + 1} turn {r.turn}": r.stage_durations()
        for r in sorted(records, key=lambda r: (calls.index(r.call_id), r.turn))
        if r.turn > 0
    }


def first_call_reply(run: PathRun, turn: int) -> HeardTurn | None:
    """Reply ``turn`` of the run's first call, as heard (None if it was not heard)."""
    if not run.heard:
        return None
    first_call = run.heard[0].call_id
    return next((t for t in run.heard if t.call_id == first_call and t.turn == turn), None)


@dataclass(frozen=True)
class LiveCallSection:
    plan: LivePlan
    runners: Sequence[PathRunner]
    unmeasured: Sequence[Unmeasured] = ()
    key: str = "live_calls"
    title: str = "Live simulated calls per path"

    def run(self, ctx: LabContext) -> SectionResult:
        measured = []
        for runner in self.runners:
            task = ctx.progress.add_task(f"live calls: {runner.name}", total=self.plan.calls)
            run = runner.run(
                self.plan, ctx.out_dir / f"live-{slug(runner.name)}", partial(advance, ctx, task)
            )
            measured.append(measure_path(run))
        return self._result(ctx.out_dir, measured)

    def _figures(self, out: Path, measured: Sequence[MeasuredPath]) -> dict[str, Path]:
        figures = {}
        latencies = {
            m.run.name: [x for r in m.run.records if (x := r.response_latency()) is not None]
            for m in measured
        }
        if any(latencies.values()):
            figures["cdf"] = latency_cdf(latencies, out / "live-latency-cdf.png")
        medians = {m.run.name: m.latency.stage_medians_s for m in measured if m.latency}
        if medians:
            figures["waterfall"] = waterfall_bars(medians, out / "live-waterfall.png")
        for m in measured:
            per_turn = turn_waterfalls(m.run.records)
            if per_turn:
                figures[f"waterfall-{m.run.name}"] = waterfall_bars(
                    per_turn,
                    out / f"live-waterfall-{slug(m.run.name)}.png",
                    title=f"Where the time goes, turn by turn — {m.run.name}",
                    xlabel="seconds per stage, stacked from the caller's speech end",
                )
        signals = {"clean reply, as sent": (clean_audio(1), MODEL_RATE)}
        for m in measured:
            reply = first_call_reply(m.run, self.plan.first_complete_turn)
            if reply is not None and len(reply.audio):
                signals[f"{m.run.name}: heard"] = (reply.audio, reply.rate)
        if len(signals) > 1:
            figures["spectrograms"] = spectrograms(
                signals, out / "live-spectrograms.png", title="One reply on each path"
            )
        return figures

    def _result(self, out: Path, measured: Sequence[MeasuredPath]) -> SectionResult:
        figures = self._figures(out, measured)
        latency = named_latency_cells(measured)
        heard = heard_cells([(m.run.name, m.heard) for m in measured])
        problems = [f"{m.run.name}: {p}" for m in measured for p in m.run.problems]
        unmeasured = [[u.name, f"not measured — {u.reason}"] for u in self.unmeasured]
        not_measured = [f"{name}: {status}" for name, status in unmeasured]
        md = [plan_sentence(self.plan, "Each measured path"), ""]
        md += (
            ["Paths not measured in this run:", "", bullet_list(not_measured)]
            if not_measured
            else []
        )
        md += ["### Response latency and where the time goes", "", markdown_table(latency)]
        md += [
            "\n".join(where_the_time_goes(m.run.name, m.latency) for m in measured if m.latency),
            "",
            LATENCY_METHOD,
        ]
        md += [figure_link(figures[k]) for k in ("cdf", "waterfall") if k in figures]
        md += [figure_link(f) for k, f in figures.items() if k.startswith("waterfall-")]
        md += ["### What the caller heard", "", markdown_table(heard), HEARD_METHOD]
        if "spectrograms" in figures:
            md += [SPECTROGRAM_NOTE, figure_link(figures["spectrograms"])]
        if problems:
            md += ["### Problems in this run", "", bullet_list(problems)]
        return SectionResult(
            key=self.key,
            title=self.title,
            data={
                "plan": {
                    "calls": self.plan.calls,
                    "turns": self.plan.turns,
                    "barge_in_turns": sorted(self.plan.barge_in_turns),
                    "seed": self.plan.seed,
                    "think": self.plan.think,
                    "chunking": self.plan.chunking,
                    "speech": [p.name for p in self.plan.speech],
                },
                "paths": {
                    m.run.name: {
                        "path": m.run.path,
                        "latency": m.latency.to_json() if m.latency else None,
                        "heard": m.heard.to_json(),
                        "turns": [r.to_json() for r in m.run.records],
                        "calls": m.run.calls,
                        "problems": m.run.problems,
                    }
                    for m in measured
                },
                "not_measured": {u.name: u.reason for u in self.unmeasured},
            },
            markdown="\n".join(md),
            tables=[
                rich_table(latency, "Response latency per path (ms)"),
                rich_table(heard, "What the caller heard per path"),
                *(
                    [rich_table(Cells(["path", "status"], unmeasured), "Paths not measured")]
                    if unmeasured
                    else []
                ),
            ],
            figures=list(figures.values()),
        )
