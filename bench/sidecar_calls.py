"""Concurrent simulated Twilio calls against one sidecar process pinned to one core.

Layout on this 2-core machine: the sidecar (``trunkline serve``, local mode, agent in-process)
alone on core 0; the simulator (``trunkline sim``, its own process, fixed think time, steady
chunks) and this process's simulated callers on core 1. For each N the sidecar is started
fresh, warmed with one call, and then N calls (2 caller turns each) run at once, their starts
spread over two seconds like real arrivals. Measured:

- caller-side gaps: the caller's Twilio-like playout running dry mid-reply (greeting and
  replies), and silence the pacer inserted (turn-log underruns) — either is audible;
- the product's own count of the first kind: the pacer's late gaps from the turn log (frames
  it sent after the caller's buffer would have run dry), to read against the caller's;
- outbound cadence as the callers receive it: p99 of media inter-arrival within replies;
- sidecar CPU (psutil, user+system) per call-second, as a percentage of one core, and RSS
  growth per concurrent call (peak during the run minus the warmed baseline, over N);
- transport overhead = caller-measured response latency − server-VAD silence (500 ms) −
  think time: what the sidecar, the pacer and the wire add on top of the model; and the
  latency waterfall's medians from the merged caller + agent turn logs (turn detection, model,
  pacing, transport), the same split ``make demo`` prints;
- the reference is N = 1 in the same run: every figure at N is read against it.

Usage: ``python bench/sidecar_calls.py [--calls 1 10 30 60 100] [--think-ms 800] [--out DIR]
[--serve-arg=--prebuffer-ms=0 ...] [--config NAME=ARGS ...]``; each ``--config`` (e.g.
``stretch-lead100="--playout stretch --lead-ms 100"``) runs every N again with those serve
arguments, so configurations are compared in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import numpy as np
import psutil

from lab.caller.analysis import turn_records
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from trunkline.child import child_process, free_port, trunkline_command, wait_http
from trunkline.turnlog import TurnRecord, merge_turns, read_turnlogs

VAD_SILENCE_MS = 500
SIDECAR_CORE = 0
OTHER_CORE = 1


@dataclass
class Row:
    config: str
    calls: int
    completed: int
    turns: int
    playout_gaps: int
    playout_gap_ms: float
    #: the pacer's own count of playout gaps (late sends past what the caller held)
    pacer_late_gaps: int
    pacer_late_gap_ms: float
    #: calls where the caller's count and the pacer's differ
    calls_disagreeing: int
    pacer_underruns: int
    pacer_underrun_ms: float
    cadence_p99_ms: float
    cadence_p99_worst_ms: float
    cpu_pct_core_per_call: float
    sidecar_cpu_pct_of_core: float
    #: the other core: simulator and callers share it; near 100 % the rig, not the sidecar, limits
    sim_cpu_pct_of_core: float
    callers_cpu_pct_of_core: float
    rss_mb_per_call: float
    overhead_median_ms: float
    overhead_p90_ms: float
    latency_median_ms: float
    turn_detection_median_ms: float
    model_median_ms: float
    pacing_median_ms: float
    transport_median_ms: float
    stretched_share_mean: float


class Sampler:
    """Peak RSS and CPU time of the sidecar while calls run."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.peak_rss = proc.memory_info().rss
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)
            await asyncio.sleep(0.25)

    def __enter__(self) -> Sampler:
        times = self.proc.cpu_times()
        self.cpu0, self.t0 = times.user + times.system, time.monotonic()
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        times = self.proc.cpu_times()
        self.cpu = times.user + times.system - self.cpu0
        self.wall = time.monotonic() - self.t0
        if self._task is not None:
            self._task.cancel()


async def one_call(url: str, speech: list[list[bytes]], delay: float, seed: int) -> CallResult:
    await asyncio.sleep(delay)
    options = CallerOptions(url=url, speech=speech, turns=2, seed=seed, linger_s=0.5)
    async with aiohttp.ClientSession() as http:
        return await SimulatedCaller(options, http).run()


async def run_level(
    n: int,
    args: argparse.Namespace,
    sim_url: str,
    sim: psutil.Process,
    out: Path,
    config: str,
    serve_args: list[str],
) -> Row:
    port = free_port()
    turn_log = out / f"turns-{config}-{n}.jsonl"
    turn_log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "LIVEKIT_URL")}
    env |= {"TRUNKLINE_SIM_URL": sim_url, "TRUNKLINE_MAX_CALLS": "1000"}
    speech = load_speech(default_speech())
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        cmd = trunkline_command(
            "--log-level", "warning", "serve",
            "--port", str(port), "--env-file", empty.name, "--turn-log", str(turn_log),
            "--model", "sim", *args.serve_arg, *serve_args,
        )  # fmt: skip
        log = out / f"sidecar-{config}-{n}.log"
        with child_process(cmd, log, env=env, core=SIDECAR_CORE) as child:
            proc = psutil.Process(child.pid)  # taskset execs the command: same pid
            url = f"http://127.0.0.1:{port}"
            await wait_http(f"{url}/healthz", what="the sidecar")
            await one_call(url, speech, 0, seed=999)  # warm-up: imports, first session
            await asyncio.sleep(1)
            baseline = proc.memory_info().rss
            with Sampler(proc) as sampler, Sampler(sim) as sim_use, Sampler(psutil.Process()) as me:
                results = await asyncio.gather(
                    *(one_call(url, speech, 2.0 * i / n, seed=i) for i in range(n)),
                    return_exceptions=True,
                )
    calls = [r for r in results if isinstance(r, CallResult)]
    for r in results:
        if not isinstance(r, CallResult):
            print(f"  call failed: {r!r}", file=sys.stderr)
    turns = [t for c in calls for t in c.turns]
    think = args.think_ms
    overhead = [t.latency_ms - VAD_SILENCE_MS - think for t in turns if t.latency_ms]
    latency = [t.latency_ms for t in turns if t.latency_ms]
    p99s = [c.cadence.interval_p99_ms for c in calls if c.cadence.interval_p99_ms is not None]
    measured = {c.call_sid for c in calls}  # not the warm-up call
    agent_lines = [r for r in read_turnlogs([turn_log]).records if r.call_id in measured]
    merged = merge_turns(agent_lines + [r for c in calls for r in turn_records(c)]).records
    stages = {
        name: [d for r in merged if (d := r.stage_durations()[name]) is not None]
        for name in ("turn_detection", "model", "pacing", "transport")
    }
    underruns = sum(r.underruns() for r in agent_lines)
    heard = {c.call_sid: _caller_gaps(c) for c in calls}
    _write_per_call(out / f"calls-{config}-{n}.jsonl", calls, agent_lines)
    counted = {sid: 0 for sid in heard}
    for line in agent_lines:
        counted[line.call_id] += line.late_gaps()
    shares = [
        v for line in agent_lines if isinstance(v := line.pacer.get("stretched_share"), float)
    ]
    underrun_ms = sum(
        v for r in agent_lines if isinstance(v := r.pacer.get("underrun_ms"), int | float)
    )
    call_seconds = sum(c.duration_s for c in calls) or 1.0
    return Row(
        config=config,
        calls=n,
        completed=len(calls),
        turns=len(turns),
        playout_gaps=sum(g for g, _ in heard.values()),
        playout_gap_ms=round(sum(ms for _, ms in heard.values()), 1),
        pacer_late_gaps=sum(counted.values()),
        pacer_late_gap_ms=round(sum(line.late_gap_ms() for line in agent_lines), 1),
        calls_disagreeing=sum(1 for sid, (g, _) in heard.items() if counted[sid] != g),
        pacer_underruns=underruns,
        pacer_underrun_ms=round(underrun_ms, 1),
        cadence_p99_ms=round(statistics.median(p99s), 1) if p99s else float("nan"),
        cadence_p99_worst_ms=round(max(p99s), 1) if p99s else float("nan"),
        cpu_pct_core_per_call=round(100 * sampler.cpu / call_seconds, 2),
        sidecar_cpu_pct_of_core=round(100 * sampler.cpu / sampler.wall, 1),
        sim_cpu_pct_of_core=round(100 * sim_use.cpu / sim_use.wall, 1),
        callers_cpu_pct_of_core=round(100 * me.cpu / me.wall, 1),
        rss_mb_per_call=round((sampler.peak_rss - baseline) / n / 2**20, 2),
        overhead_median_ms=round(float(np.median(overhead)), 1) if overhead else float("nan"),
        overhead_p90_ms=round(float(np.percentile(overhead, 90)), 1) if overhead else float("nan"),
        latency_median_ms=round(float(np.median(latency)), 1) if latency else float("nan"),
        turn_detection_median_ms=_median_ms(stages["turn_detection"]),
        model_median_ms=_median_ms(stages["model"]),
        pacing_median_ms=_median_ms(stages["pacing"]),
        transport_median_ms=_median_ms(stages["transport"]),
        stretched_share_mean=round(float(np.mean(shares)), 3) if shares else 0.0,
    )


def _write_per_call(path: Path, calls: list[CallResult], agent_lines: list[TurnRecord]) -> None:
    """Per call and turn (0: the greeting): gaps the caller heard beside gaps the pacer
    counted, with the caller's longest media inter-arrival — where a disagreement comes from."""
    counted = {(r.call_id, r.turn): (r.late_gaps(), r.late_gap_ms()) for r in agent_lines}
    with path.open("w") as f:
        for c in calls:
            turns = [*([c.greeting] if c.greeting else []), *c.turns]
            row = {
                "call_sid": c.call_sid,
                "arrival_max_ms": c.cadence.interval_max_ms,
                "turns": [
                    {
                        "turn": t.turn,
                        "heard": t.gaps,
                        "heard_ms": t.gap_ms,
                        "counted": counted.get((c.call_sid, t.turn), (None, None))[0],
                        "counted_ms": counted.get((c.call_sid, t.turn), (None, None))[1],
                    }
                    for t in turns
                ],
            }
            f.write(json.dumps(row) + "\n")


def _caller_gaps(call: CallResult) -> tuple[int, float]:
    """Times the caller's playout ran dry inside the greeting or a reply, and for how long."""
    turns = [*call.turns, *([call.greeting] if call.greeting else [])]
    return sum(t.gaps for t in turns), sum(t.gap_ms for t in turns)


def _median_ms(seconds: list[float]) -> float:
    return round(1000 * float(np.median(seconds)), 1) if seconds else float("nan")


async def main_async(args: argparse.Namespace) -> list[Row]:
    out: Path = args.out
    os.sched_setaffinity(0, {OTHER_CORE})
    sim_port = free_port()
    sim_cmd = trunkline_command(
        "--log-level", "warning", "sim", "--port", str(sim_port),
        "--think-ms", str(args.think_ms), "--chunking", "steady", "--seed", "1",
    )  # fmt: skip
    rows = []
    configs = [c.partition("=") for c in args.config] or [("default", "=", "")]
    with child_process(sim_cmd, out / "sim.log", core=OTHER_CORE) as sim_child:
        sim = psutil.Process(sim_child.pid)
        await wait_http(f"http://127.0.0.1:{sim_port}/", what="the simulator")
        for n in args.calls:
            for name, _, serve_args in configs:
                print(f"N={n} {name} …", file=sys.stderr)
                url = f"http://127.0.0.1:{sim_port}/v1"
                row = await run_level(n, args, url, sim, out, name, serve_args.split())
                print(json.dumps(asdict(row)), file=sys.stderr)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 10, 30, 60, 100])
    parser.add_argument("--think-ms", type=int, default=800)
    parser.add_argument("--out", type=Path, default=Path("out/bench/sidecar"))
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="extra argument for `trunkline serve`, e.g. --serve-arg=--prebuffer-ms=0 (repeat)",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help='a named set of serve arguments to compare, e.g. hold="--lead-ms 60" (repeat)',
    )
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(main_async(args))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; started {started}; load {os.getloadavg()}"
    )
    cols = list(asdict(rows[0]))
    print("| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for row in rows:
        print("| " + " | ".join(str(v) for v in asdict(row).values()) + " |")
    (args.out / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
