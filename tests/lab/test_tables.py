"""Table cells: one formatting for the terminal and the report."""

from __future__ import annotations

from rich.console import Console

from lab.latency import PathSummary
from lab.tables import latency_cells, markdown_table, rich_table


def summary(**changes: object) -> PathSummary:
    fields: dict[str, object] = {
        "path": "sip",
        "turns": 12,
        "latency_turns": 10,
        "latency_median_s": 1.2345,
        "latency_p90_s": 2.0,
        "underruns": 3,
        "turns_with_underruns": 2,
        "late_gaps": 1,
        "late_gap_ms": 30.0,
        "stage_medians_s": {
            "turn_detection": 0.5,
            "model": 0.7,
            "pacing": 0.06,
            "transport": None,
        },
    }
    fields.update(changes)
    return PathSummary(**fields)  # type: ignore[arg-type]


def test_latency_cells_in_milliseconds_with_missing_marked() -> None:
    cells = latency_cells([summary()])
    assert cells.headers[:6] == [
        "path",
        "turns",
        "median (ms)",
        "p90 (ms)",
        "underruns",
        "late gaps",
    ]
    assert cells.rows == [
        ["sip", "12 (10)", "1234", "2000", "3 in 2 turns", "1 (30 ms)", "500", "700", "60", "—"]
    ]
    assert latency_cells([summary(latency_turns=12)]).rows[0][1] == "12"


def test_rich_and_markdown_show_the_same_cells() -> None:
    cells = latency_cells([summary(), summary(path="webrtc")])
    console = Console(width=200, record=True)
    console.print(rich_table(cells, "t"))
    text = console.export_text()
    md = markdown_table(cells)
    for row in cells.rows:
        for cell in row:
            assert (cell in text and f"| {cell} |" in md) or f" {cell} " in md
