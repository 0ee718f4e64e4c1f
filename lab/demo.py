"""``make demo``: one simulated phone call through the real sidecar and model protocol.

It starts ``trunkline serve`` as its own process on the embedded default (agent in-process,
the local OpenAI-Realtime simulator as the model, no accounts), places a call with the
simulated Twilio caller using the bundled speech — greeting, a turn, a turn the caller
interrupts (barge-in), a keypad press, and the agent ending the call — then prints where the
time went per turn and what the caller heard, writes WAV + JSON + PNG + the turn log, and stops
the server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lab.caller.analysis import audio_figures, turn_records
from lab.caller.audio import write_wav
from lab.caller.call import CallerOptions
from lab.caller.cli import default_speech
from lab.caller.report import turn_table
from lab.caller.results import CallResult
from lab.caller.runner import load_speech, place_call
from lab.plots import call_timeline
from trunkline.child import RunningSidecar, embedded_sidecar, free_port
from trunkline.turnlog import TurnLogWriter, TurnRecord, merge_turns, read_turnlogs

OUT = Path("out/demo")
#: The simulator's lines for the demo's call: a reply to the key press, a reply long enough to
#: interrupt, and a goodbye that ends the call with the agent's ``end_call`` tool.
DEMO_SCRIPT = Path(__file__).parent / "data" / "demo_script.json"


async def call(sidecar: RunningSidecar, turns: int) -> CallResult:
    await sidecar.wait_ready()
    options = CallerOptions(
        url=sidecar.url,
        speech=load_speech(default_speech()),
        turns=turns,
        barge_in_turns=frozenset({2}),
        dtmf="1",
    )
    return await place_call(options)


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f}"


def waterfall_table(records: Sequence[TurnRecord]) -> Table:
    table = Table(title="Where the time went, per turn (ms; twilio-ws path)")
    for col in ("turn", "latency", "turn detection", "model", "pacing", "transport",
                "pacer hold", "underruns", "late gaps"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in sorted(records, key=lambda r: r.turn):
        stages = r.stage_durations()
        hold = r.pacer.get("hold_ms")
        table.add_row(
            "greeting" if r.turn == 0 else str(r.turn),
            _ms(r.response_latency()),
            _ms(stages["turn_detection"]),
            _ms(stages["model"]),
            _ms(stages["pacing"]),
            _ms(stages["transport"]),
            "—" if hold is None else f"{hold}",
            str(r.underruns()),
            str(r.late_gaps()),
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trunkline demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    parser.add_argument("--turns", type=int, default=3, help="caller turns (default 3)")
    args, serve_args = parser.parse_known_args(argv)
    if not any(a.startswith("--sim-script") for a in serve_args):
        serve_args = [*serve_args, "--sim-script", str(DEMO_SCRIPT)]
    out: Path = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    console = Console()
    turn_log = out / "turns.jsonl"
    console.print(
        "[bold]trunkline demo[/]: starting the sidecar (local mode, simulated model), "
        "then calling it like Twilio would…"
    )
    with embedded_sidecar(free_port(), turn_log, out / "sidecar.log", serve_args) as sidecar:
        try:
            result = asyncio.run(call(sidecar, args.turns))
        except RuntimeError as exc:  # the sidecar did not start: say why, not a traceback
            console.print(f"[red]trunkline demo: {exc}[/]")
            return 1
    result.audio = audio_figures(result)
    with TurnLogWriter(turn_log) as writer:
        for record in turn_records(result):
            writer.write(record)
    log = read_turnlogs([turn_log])
    merged = merge_turns(log.records)
    for problem in [*log.problems, *merged.problems]:
        console.print(f"[yellow]turn log: {problem}[/]")

    console.print(turn_table(result))
    console.print(waterfall_table(merged.records))
    figures = ", ".join(f"{k} {v}" for k, v in result.audio.items())
    console.print(f"what the caller heard: {figures}")
    write_wav(out / "heard.wav", result.heard, 8000)
    (out / "call.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    start = result.started_at
    call_timeline(
        result.heard,
        8000,
        out / "heard.png",
        speech_ends=[t.speech_end - start for t in result.turns if t.speech_end],
        first_audio=[
            t.first_audio_received - start for t in result.turns if t.first_audio_received
        ],
        title=f"What the caller heard ({result.call_sid}, hung up by {result.hung_up_by})",
    )
    console.print(
        f"wrote {out}/heard.wav, heard.png, call.json, turns.jsonl, sidecar.log — "
        f"aggregate with: trunkline report {turn_log}"
    )
    answered = bool(result.turns) and all(t.latency_ms is not None for t in result.turns)
    if not answered:
        console.print("[red]some turns got no answer; see sidecar.log[/]")
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())
