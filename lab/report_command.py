"""``trunkline report FILE...``: per-path latency from turn logs, as a table, JSON and plots.

Reads the one-JSON-line-per-turn logs the agent, the sidecar and the caller simulator write
(:mod:`trunkline.turnlog`), merges the lines of each turn, and summarises per path — then compares
each path with a baseline (``--baseline``, default ``twilio-ws``): the difference of median
latency with a 95 % bootstrap interval, of p90 and of underruns, which is what a number split
between the telephony paths (``TRUNKLINE_SIP_SHARE``) is for. Bad lines are listed on stderr
and skipped; the report is still produced from the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_OUT = Path("out/report")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="turn log files")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--baseline",
        choices=["twilio-ws", "sip", "webrtc"],
        default="twilio-ws",
        help="the path the others are compared with (default: twilio-ws)",
    )


def run(args: argparse.Namespace) -> int:
    from lab.latency import compare_paths, latencies_by_path, summarize
    from lab.plots import latency_cdf, waterfall_bars
    from lab.tables import comparison_cells, latency_cells, rich_table, table_console
    from trunkline.turnlog import merge_turns, read_turnlogs

    console = table_console()
    log = read_turnlogs(args.files)
    merged = merge_turns(log.records)
    problems = [*log.problems, *merged.problems]
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not merged.records:
        print("no valid turns to report", file=sys.stderr)
        return 1
    summaries = summarize(merged.records)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    console.print(rich_table(latency_cells(summaries), "Response latency per path"))
    comparisons = compare_paths(merged.records, args.baseline)
    if comparisons:
        title = f"Each path against {args.baseline} (this path / {args.baseline})"
        console.print(rich_table(comparison_cells(comparisons), title))
    summary_path = out / "summary.json"
    summary_path.write_text(
        json.dumps(
            {
                "files": [str(f) for f in args.files],
                "turns": len(merged.records),
                "problems": [str(p) for p in problems],
                "paths": [s.to_json() for s in summaries],
                "comparisons": [c.to_json() for c in comparisons],
            },
            indent=2,
            allow_nan=False,
        )
        + "\n",
        encoding="utf-8",
    )
    latencies = {str(path): v for path, v in latencies_by_path(merged.records).items()}
    latency_cdf(latencies, out / "latency_cdf.png")
    waterfall_bars({s.path: s.stage_medians_s for s in summaries}, out / "waterfall.png")
    console.print(
        f"{len(merged.records)} turns, {len(problems)} problems; wrote {summary_path}, "
        f"latency_cdf.png and waterfall.png in {out}"
    )
    return 0
