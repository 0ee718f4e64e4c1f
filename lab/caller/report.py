"""Presenting one simulated call: a terminal table and the JSON written by ``--out``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from lab.caller.results import CallResult, TurnResult


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def turn_table(result: CallResult) -> Table:
    table = Table(title=f"call {result.call_sid}: hung up by {result.hung_up_by}")
    for col in (
        "turn",
        "latency ms",
        "heard ms",
        "gaps",
        "gap ms",
        "barge-in clear ms",
        "barge-in cut-off ms",
    ):
        table.add_column(col, justify="right")
    rows: list[TurnResult] = ([result.greeting] if result.greeting else []) + result.turns
    for t in rows:
        table.add_row(
            "greeting" if t.turn == 0 else str(t.turn),
            _ms(t.latency_ms),
            _ms(t.heard_ms),
            str(t.gaps),
            _ms(t.gap_ms),
            _ms(t.barge_in.clear_after_ms) if t.barge_in else "",
            _ms(t.barge_in.cutoff_ms) if t.barge_in else "",
        )
    return table


def print_result(console: Console, result: CallResult) -> None:
    console.print(turn_table(result))
    c = result.cadence
    console.print(
        f"media from the sidecar: {c.messages} messages, interval p50 "
        f"{_ms(c.interval_p50_ms)} ms, p99 {_ms(c.interval_p99_ms)} ms, max "
        f"{_ms(c.interval_max_ms)} ms; caller-side buffer at arrival p50 "
        f"{_ms(c.buffered_p50_ms)} ms, max {_ms(c.buffered_max_ms)} ms; marks acknowledged "
        f"{result.marks_acked}, clears {result.clears}"
    )
    for name, value in result.audio.items():
        console.print(f"{name}: {value}")


def result_json(result: CallResult) -> dict[str, Any]:
    return result.to_json()
