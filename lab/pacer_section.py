"""Section (c) of ``trunkline lab``: the pacer A/B on bursty model audio.

On twilio-ws two sidecars serve the same calls side by side, one pacing, one forwarding the
model's bursts as they come; on the ``rtc.AudioSource`` path (every room path's way out) the
same bursty producer feeds a source with and without the pacer (:mod:`lab.source_ab`). What a
listener would notice is measured on each: gaps and inserted silence, clicks against the clean
reply, the latency the pacer's hold costs, and the barge-in cut-off.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from lab.chains import MODEL_RATE
from lab.clicks import clicks_per_minute
from lab.heard import HeardTurn
from lab.live_notes import (
    FRAME_TIMING_NOTE,
    SOURCE_AB_METHOD,
    TWILIO_AB_METHOD,
    plan_sentence,
)
from lab.live_plan import LivePlan, clean_audio
from lab.live_section import MeasuredPath, advance, figure_link, first_call_reply, measure_path
from lab.path_runner import PathRun
from lab.pcm import FloatArray
from lab.plots import frame_timing
from lab.sections import LabContext, SectionResult
from lab.source_ab import SourceArm, never_zero, source_ab
from lab.tables import (
    Cells,
    barge_in_cell,
    clicks_cell,
    fmt,
    gaps_cell,
    markdown_table,
    rich_table,
)
from lab.twilio_runner import TwilioWsRunner

FRAME_S = 0.02


def pacer_underruns(run: PathRun) -> tuple[int, float] | None:
    """Underrun events and milliseconds the pacer reported over all turns (None: no pacer)."""
    stats = [r.pacer for r in run.records if r.pacer]
    if not stats:
        return None
    ms = [v for s in stats if isinstance(v := s.get("underrun_ms"), int | float)]
    return sum(r.underruns() for r in run.records), float(sum(ms))


def pacer_late_gaps(run: PathRun) -> tuple[int, float] | None:
    """Gaps the pacer counted as heard because it sent late (None: no pacer): the product's
    own figure to read against the caller's "playout ran dry"."""
    if not any(r.pacer for r in run.records):
        return None
    return sum(r.late_gaps() for r in run.records), sum(r.late_gap_ms() for r in run.records)


def caller_buffer_max_ms(run: PathRun) -> float | None:
    values = [c["cadence"]["buffered_max_ms"] for c in run.calls]
    known = [float(v) for v in values if v is not None]
    return max(known) if known else None


def answer_times(run: PathRun) -> dict[tuple[int, int], float]:
    """Turn detected → first audio at the caller, in seconds, per (call number, turn).

    The response latency less the turn detection: the two arms' VADs run on frames arriving
    a few ms apart and time the end of speech differently by tens of ms, which is not the
    pacer's doing.
    """
    order = [c["call_id"] for c in run.calls]
    out = {}
    for r in run.records:
        latency, detect = r.response_latency(), r.stage_durations()["turn_detection"]
        if latency is not None and detect is not None and r.call_id in order:
            out[(order.index(r.call_id), r.turn)] = latency - detect
    return out


def paired_delta_ms(paced: PathRun, unpaced: PathRun) -> list[float]:
    """Per turn answered in both arms (same call number and turn: the same model draws), how
    much later the paced caller heard the answer after its turn was detected."""
    a, b = answer_times(paced), answer_times(unpaced)
    return [1000.0 * (a[k] - b[k]) for k in sorted(a.keys() & b.keys())]


def pacer_wait_ms(run: PathRun) -> list[float]:
    """The pacer's first-frame latency (its start hold, as waited) of each caller turn."""
    waits = [r.pacer.get("first_frame_latency_ms") for r in run.records if r.turn > 0]
    return [float(w) for w in waits if isinstance(w, int | float)]


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


def paired_sentence(deltas: Sequence[float], waits: Sequence[float]) -> str:
    if not deltas:
        return "No caller turn was answered in both arms, so the arms cannot be paired.\n"
    return (
        f"Paired by call and turn ({len(deltas)} turns answered in both arms), the paced caller "
        f"heard the answer a median {_median(deltas):+,.0f} ms later after its turn was detected "
        f"(range {min(deltas):+,.0f} … {max(deltas):+,.0f} ms); the pacer's own wait before its "
        f"first frame was a median {fmt(_median(waits))} ms.\n"
    )


def _ms(seconds: float | None) -> str:
    return fmt(None if seconds is None else 1000 * seconds)


def twilio_ab_cells(arms: Sequence[MeasuredPath]) -> Cells:
    rows = []
    for m in arms:
        pacer = pacer_underruns(m.run)
        late = pacer_late_gaps(m.run)
        lat = m.latency
        rows.append(
            [
                m.run.name,
                str(m.heard.turns),
                "—" if lat is None else f"{_ms(lat.latency_median_s)} / {_ms(lat.latency_p90_s)}",
                _ms(_median(list(answer_times(m.run).values()))),
                gaps_cell(m.heard.gaps, m.heard.gap_ms),
                str(m.heard.receiver_gaps),
                "no pacer" if late is None else gaps_cell(*late),
                "no pacer" if pacer is None else gaps_cell(*pacer),
                clicks_cell(m.heard.clicks_per_min, m.heard.clicks_ratio),
                barge_in_cell(m.heard.barge_in_clear_ms, m.heard.barge_in_cutoff_ms),
                fmt(caller_buffer_max_ms(m.run)),
            ]
        )
    return Cells(
        headers=[
            "arm",
            "replies",
            "latency median / p90 ms",
            "after detection ms",
            "gaps heard",
            "playout ran dry",
            "pacer late gaps",
            "pacer underruns",
            "clicks/min (× clean)",
            "barge-in clear / cut-off ms",
            "buffer max ms",
        ],
        rows=rows,
    )


def source_ab_cells(summaries: Sequence[dict[str, Any]]) -> Cells:
    return Cells(
        headers=[
            "arm",
            "turns",
            "inserted silence",
            "turns with silence",
            "first audio median ms",
            "hold median ms",
            "missing samples",
            "bit-exact",
            "clicks/min (× clean)",
        ],
        rows=[
            [
                s["arm"],
                str(s["turns"]),
                f"{s['events']} ({s['silence_ms']:,.0f} ms)",
                str(s["turns_with_silence"]),
                fmt(s["first_audio_median_ms"]),
                fmt(s["hold_median_ms"]),
                str(s["missing_samples"]),
                "yes" if s["bit_exact"] else "no",
                clicks_cell(s["clicks_per_min"], s["clicks_ratio"]),
            ]
            for s in summaries
        ],
    )


def frame_arrivals(turn: HeardTurn, frame_s: float = FRAME_S) -> FloatArray:
    """When each ``frame_s`` of the reply arrived: the message carrying its first sample."""
    if not turn.arrivals:
        return np.zeros(0, dtype=np.float64)
    at = np.array([a for a, _ in turn.arrivals], dtype=np.float64)
    ends = np.cumsum([s for _, s in turn.arrivals])
    starts = np.arange(0.0, ends[-1] - 1e-9, frame_s)
    # a float sum may sit a hair below a boundary: never index past the last message
    index = np.minimum(np.searchsorted(ends, starts + 1e-9, side="right"), len(at) - 1)
    arrivals: FloatArray = at[index]
    return arrivals


@dataclass(frozen=True)
class PacerABSection:
    plan: LivePlan
    #: Turns the rtc.AudioSource A/B plays per arm.
    source_turns: int = 6
    key: str = "pacer_ab"
    title: str = "Pacer A/B: bursty model audio with and without the pacer"

    def run(self, ctx: LabContext) -> SectionResult:
        arms = [measure_path(run) for run in self._twilio(ctx)]
        task = ctx.progress.add_task("pacer A/B: rtc.AudioSource", total=2 * self.source_turns)
        unpaced, paced = asyncio.run(
            source_ab(
                clean_audio(1),
                self.source_turns,
                self.plan.seed,
                lambda: ctx.progress.advance(task),
            )
        )
        return self._result(ctx.out_dir, arms, [unpaced, paced])

    def _twilio(self, ctx: LabContext) -> list[PathRun]:
        """Both arms' calls at the same time, each arm on its own sidecar."""
        runners = [TwilioWsRunner("paced", pacer=True), TwilioWsRunner("unpaced", pacer=False)]
        dirs = [ctx.out_dir / f"pacer-{r.name}" for r in runners]
        task = ctx.progress.add_task("pacer A/B: twilio-ws calls", total=2 * self.plan.calls)
        on_call = partial(advance, ctx, task)

        with contextlib.ExitStack() as stack:
            urls = [
                stack.enter_context(r.serving(self.plan, d))
                for r, d in zip(runners, dirs, strict=True)
            ]

            async def both() -> list[tuple[list[Any], list[str]]]:
                return list(
                    await asyncio.gather(
                        *(
                            r.place_calls(url, self.plan, on_call)
                            for r, url in zip(runners, urls, strict=True)
                        )
                    )
                )

            outcomes = asyncio.run(both())
        return [
            r.collect(results, problems, d)
            for r, d, (results, problems) in zip(runners, dirs, outcomes, strict=True)
        ]

    def _result(
        self, out: Path, arms: Sequence[MeasuredPath], source: Sequence[SourceArm]
    ) -> SectionResult:
        turn = self.plan.first_complete_turn
        timing = {
            m.run.name: frame_arrivals(t)
            for m in arms
            if (t := first_call_reply(m.run, turn)) is not None and t.arrivals
        }
        figures = []
        if timing:
            figures.append(frame_timing(timing, out / "pacer-frame-timing.png"))
        clean_clicks = clicks_per_minute(never_zero(clean_audio(1)), MODEL_RATE)
        summaries = [arm.summary(clean_clicks) for arm in source]
        twilio = twilio_ab_cells(arms)
        deltas = paired_delta_ms(arms[0].run, arms[1].run)
        waits = pacer_wait_ms(arms[0].run)
        rtc = source_ab_cells(summaries)
        problems = [f"{m.run.name}: {p}" for m in arms for p in m.run.problems]
        md = [
            "### twilio-ws: the sidecar with and without the pacer",
            "",
            plan_sentence(self.plan, "Each arm").replace("one after another", "arm beside arm"),
            "",
            markdown_table(twilio),
            paired_sentence(deltas, waits),
            TWILIO_AB_METHOD,
        ]
        if figures:
            md += [FRAME_TIMING_NOTE, figure_link(figures[0])]
        md += [
            "### rtc.AudioSource: the room paths' way out, with and without the pacer",
            "",
            markdown_table(rtc),
            SOURCE_AB_METHOD,
        ]
        if problems:
            md += ["### Problems in this run", "", "\n".join(f"- {p}" for p in problems), ""]
        return SectionResult(
            key=self.key,
            title=self.title,
            data={
                "twilio_ws": {
                    m.run.name: {
                        "latency": m.latency.to_json() if m.latency else None,
                        "heard": m.heard.to_json(),
                        "pacer_underruns": pacer_underruns(m.run),
                        "pacer_late_gaps": pacer_late_gaps(m.run),
                        "caller_buffer_max_ms": caller_buffer_max_ms(m.run),
                        "turns": [r.to_json() for r in m.run.records],
                        "calls": m.run.calls,
                        "problems": m.run.problems,
                    }
                    for m in arms
                },
                "audio_source": {
                    "clean_clicks_per_min": clean_clicks,
                    "arms": {
                        arm.name: {"summary": s, "turns": arm.to_json()}
                        for arm, s in zip(source, summaries, strict=True)
                    },
                },
                "paired": {"paced_minus_unpaced_ms": deltas, "pacer_wait_ms": waits},
                "frame_timing_turn": turn,
            },
            markdown="\n".join(md),
            tables=[
                rich_table(twilio, "Pacer A/B on twilio-ws (bursty simulator)"),
                rich_table(rtc, "Pacer A/B on rtc.AudioSource (bursty producer)"),
            ],
            figures=figures,
        )
