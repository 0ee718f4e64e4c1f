"""Results as tables: the same cells rendered for the terminal (rich) and for REPORT.md.

Each result type is turned into headers and formatted cells once, so the terminal and the
report can never show different numbers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table

from lab.codec_table import ChainRow
from lab.latency import PathComparison, PathSummary
from trunkline.turnlog import STAGES


@dataclass(frozen=True)
class Cells:
    headers: list[str]
    rows: list[list[str]]


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{1000 * seconds:.0f}"


def fmt(value: float | None, spec: str = ",.0f") -> str:
    """A number for a table cell, "—" where it is unknown."""
    return "—" if value is None else format(value, spec)


def clicks_cell(per_min: float | None, ratio: float | None) -> str:
    """Clicks per minute and, in brackets, relative to the clean audio's own rate."""
    return fmt(per_min) + ("" if ratio is None else f" (×{ratio:.2f})")


def chain_cells(rows: Sequence[ChainRow]) -> Cells:
    return Cells(
        headers=[
            "speech",
            "path",
            "rate",
            "BW99 Welch",
            "BW99 FFT-bin",
            "delay ms",
            "PESQ NB",
            "PESQ WB",
            "STOI",
            "gaps",
            "clicks/min",
            "drops",
        ],
        rows=[
            [
                r.speech,
                r.path,
                f"{r.rate // 1000}k" if r.rate % 1000 == 0 else str(r.rate),
                f"{r.bandwidth_welch_hz:,.0f} Hz",
                f"{r.bandwidth_fft_bin_hz:,.2f} Hz",
                f"{r.delay_ms:.2f}",
                f"{r.pesq_nb:.2f}",
                f"{r.pesq_wb:.2f}",
                f"{r.stoi:.3f}",
                str(r.gaps),
                f"{r.clicks_per_min:.0f}",
                str(r.energy_drops),
            ]
            for r in rows
        ],
    )


def latency_cells(summaries: Sequence[PathSummary]) -> Cells:
    stages = list(STAGES)
    return Cells(
        headers=[
            "path",
            "turns",
            "median (ms)",
            "p90 (ms)",
            "underruns",
            "late gaps",
            *[f"{s.replace('_', ' ')} (ms)" for s in stages],
        ],
        rows=[
            [
                s.path,
                f"{s.turns}" + ("" if s.latency_turns == s.turns else f" ({s.latency_turns})"),
                _ms(s.latency_median_s),
                _ms(s.latency_p90_s),
                f"{s.underruns} in {s.turns_with_underruns} turns",
                gaps_cell(s.late_gaps, s.late_gap_ms),
                *[_ms(s.stage_medians_s[stage]) for stage in stages],
            ]
            for s in summaries
        ],
    )


def _signed_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{1000 * seconds:+.0f}"


def _share(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f} %"


def comparison_cells(comparisons: Sequence[PathComparison]) -> Cells:
    return Cells(
        headers=[
            "path",
            "vs",
            "calls",
            "turns",
            "median Δ (ms)",
            "95 % interval (ms)",
            "p90 Δ (ms)",
            "turns with underruns",
        ],
        rows=[
            [
                c.path,
                c.baseline,
                f"{c.calls} / {c.baseline_calls}",
                f"{c.latency_turns} / {c.baseline_latency_turns}",
                _signed_ms(c.median_delta_s),
                "—"
                if c.median_delta_ci_s is None
                else f"{_signed_ms(c.median_delta_ci_s[0])} … {_signed_ms(c.median_delta_ci_s[1])}",
                _signed_ms(c.p90_delta_s),
                f"{_share(c.underrun_turn_share)} / {_share(c.baseline_underrun_turn_share)}",
            ]
            for c in comparisons
        ],
    )


def gaps_cell(count: int, ms: float) -> str:
    return f"{count} ({ms:,.0f} ms)"


def table_console() -> Console:
    """A console for the result tables: the terminal's width, or 160 columns into a pipe or
    file (where rich would assume 80 and squeeze a dozen columns into ellipses)."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def rich_table(cells: Cells, title: str) -> Table:
    """Cells never wrap or shrink below their widest value; squeezed, the headers wrap instead
    (a wide table must not lose a figure or a row's name to an ellipsis)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for i, header in enumerate(cells.headers):
        widest = max((len(row[i]) for row in cells.rows), default=0)
        table.add_column(header, justify="left" if i < 2 else "right", min_width=widest)
    for row in cells.rows:
        table.add_row(*row)
    return table


def markdown_table(cells: Cells) -> str:
    lines = [
        "| " + " | ".join(cells.headers) + " |",
        "| " + " | ".join("---" if i < 2 else "---:" for i in range(len(cells.headers))) + " |",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in cells.rows)
    return "\n".join(lines) + "\n"
