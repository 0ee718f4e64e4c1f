"""Section ``source`` of ``trunkline lab``: the pacer A/B on ``rtc.AudioSource`` with no server.

The room paths' way out, alone: the same seeded bursty producer feeds an ``rtc.AudioSource``
with and without the pacer, looped back in this process (:mod:`lab.source_ab`). It isolates
what the paths section measures end to end — how LiveKit's own source meters bursts — and
checks the audio comes out bit-exact. Not part of a default run (the paths section's A/B is
the real one); ``--sections source`` adds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.chains import MODEL_RATE
from lab.clicks import clicks_per_minute
from lab.live_notes import SOURCE_AB_METHOD
from lab.live_plan import clean_audio
from lab.sections import LabContext, SectionResult
from lab.source_ab import never_zero, source_ab
from lab.tables import Cells, clicks_cell, fmt, markdown_table, rich_table


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


@dataclass(frozen=True)
class SourceABSection:
    turns: int = 6
    seed: int = 0
    key: str = "source_ab"
    title: str = "Pacer A/B on rtc.AudioSource, no server"

    def run(self, ctx: LabContext) -> SectionResult:
        task = ctx.progress.add_task("pacer A/B: rtc.AudioSource", total=2 * self.turns)
        arms = asyncio.run(
            source_ab(clean_audio(1), self.turns, self.seed, lambda: ctx.progress.advance(task))
        )
        clean_clicks = clicks_per_minute(never_zero(clean_audio(1)), MODEL_RATE)
        summaries = [arm.summary(clean_clicks) for arm in arms]
        cells = source_ab_cells(summaries)
        return SectionResult(
            key=self.key,
            title=self.title,
            data={
                "clean_clicks_per_min": clean_clicks,
                "arms": {
                    arm.name: {"summary": s, "turns": arm.to_json()}
                    for arm, s in zip(arms, summaries, strict=True)
                },
            },
            markdown="\n".join([markdown_table(cells), SOURCE_AB_METHOD]),
            tables=[rich_table(cells, "Pacer A/B on rtc.AudioSource (bursty producer)")],
        )
