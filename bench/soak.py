"""Soak: many calls against one local-mode sidecar process; does anything grow per call?

The sidecar is ``trunkline serve``'s own local app (``serve._local_app``: the embedded
simulator, the pacer, an AgentSession per call) run in a child process by this script's
``--serve`` role, which adds one route, ``GET /_soak``, reporting from inside: RSS, open fds,
threads, asyncio tasks, objects the garbage collector tracks, and active calls (local mode has
no LiveKit rooms; the simulator's sessions end with their calls, as the active-call count
shows). The driver then runs

1. ``--sequential`` calls one after another, sampling every ``--every`` calls;
2. ``--concurrent`` callers placing calls back to back for ``--minutes``, sampling every 10 s;

and after each phase, once the calls are over, samples again (nothing may be left: no active
call, tasks and fds back to the idle figures). Per metric it fits a line to the samples after
warm-up (the first ``--warmup`` share of calls) against the number of calls completed and
reports the slope with its standard error and the residual noise: growth per call that is
indistinguishable from zero has a slope within about two standard errors of it.

Each call is the simulated Twilio caller: the greeting (a short scripted one), ``--turns``
caller turns, and the caller hanging up. Usage::

    python bench/soak.py [--sequential 1000] [--concurrent 100] [--minutes 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.runner import load_speech
from trunkline.child import child_process, free_port, wait_http
from trunkline.logs import summarize_log

METRICS = ("rss_mb", "fds", "threads", "tasks", "gc_objects", "active_calls")
SCRIPT = {"greeting": "Hello, trunkline here.", "turns": [{"say": "Sure."}], "fallback": "Ok."}


# --- the server role ---------------------------------------------------------------------------


def serve(port: int, script: Path) -> None:
    """``trunkline serve``'s local app, plus ``GET /_soak``."""
    from agent.model import ModelSettings
    from agent.sim.options import from_args
    from sip.sidecar import announce
    from sip.sidecar import serve as serve_command
    from sip.sidecar.app import STATE
    from sip.sidecar.drain import GOODBYE_TEXT
    from sip.sidecar.lifecycle import serve as serve_until_drained
    from sip.sidecar.webform import REQUEST_LOG
    from sip.twilio.pacing import Pacing
    from trunkline.config import settings_from_env
    from trunkline.logs import configure_logging

    configure_logging("INFO", "text")
    parser = argparse.ArgumentParser()
    serve_command.configure(parser)
    args = parser.parse_args(
        ["--port", str(port), "--sim-think-ms", "300", "--sim-chunking", "steady",
         "--sim-script", str(script)]
    )  # fmt: skip
    settings = settings_from_env({})
    problems: list[str] = []
    model = ModelSettings.from_env({}, problems, sim=from_args(args))
    assert model is not None, problems
    goodbye = announce.render(GOODBYE_TEXT)
    app = serve_command._local_app(args, settings, model, Pacing(), None, goodbye)
    me = psutil.Process()

    async def soak_state(request: web.Request) -> web.Response:
        gc.collect()
        return web.json_response(
            {
                "rss_mb": me.memory_info().rss / 2**20,
                "fds": me.num_fds(),
                "threads": threading.active_count(),
                "tasks": len(asyncio.all_tasks()) - 1,  # less this handler's own
                "gc_objects": len(gc.get_objects()),
                "active_calls": request.app[STATE].active_calls,
            }
        )

    async def soak_tasks(request: web.Request) -> web.Response:
        """Where every live task waits, innermost frame first, counted: what a stuck call is
        stuck on."""
        where: dict[str, int] = {}
        for task in asyncio.all_tasks():
            chain = []
            coro: Any = task.get_coro()
            while coro is not None:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is not None:
                    chain.append(
                        f"{frame.f_code.co_filename.split('site-packages/')[-1]}:"
                        f"{frame.f_lineno} {frame.f_code.co_name}"
                    )
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            key = " <- ".join(reversed(chain[-4:])) or repr(task)
            where[key] = where.get(key, 0) + 1
        ranked = sorted(where.items(), key=lambda kv: -kv[1])
        return web.Response(text="\n".join(f"{n:5d}  {k}" for k, n in ranked))

    app.router.add_get("/_soak", soak_state)
    app.router.add_get("/_soak/tasks", soak_tasks)
    asyncio.run(serve_until_drained(app, "127.0.0.1", port, request_log=REQUEST_LOG))


# --- the driver --------------------------------------------------------------------------------


@dataclass
class Sample:
    phase: str
    t_s: float
    calls: int
    rss_mb: float
    fds: int
    threads: int
    tasks: int
    gc_objects: int
    active_calls: int


@dataclass
class Fit:
    metric: str
    per_call: float
    stderr: float
    noise: float
    """Residual standard deviation around the fitted line."""
    first: float
    last: float

    @property
    def flat(self) -> bool:
        """No growth told apart from noise: the slope is within two standard errors of zero
        or below it (a shrinking heap is not a leak), or 1,000 calls add less than the noise."""
        return self.per_call <= 2 * self.stderr or self.per_call * 1000 <= self.noise


def fit(samples: list[Sample], metric: str) -> Fit | None:
    xs = [float(s.calls) for s in samples]
    ys = [float(getattr(s, metric)) for s in samples]
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    residuals = [y - (my + slope * (x - mx)) for x, y in zip(xs, ys, strict=True)]
    var = sum(r * r for r in residuals) / (n - 2)
    return Fit(metric, slope, math.sqrt(var / sxx), math.sqrt(var), ys[0], ys[-1])


async def state(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/_soak") as resp:
        data: dict[str, Any] = await resp.json()
        return data


class Driver:
    def __init__(self, url: str) -> None:
        self.url = url
        self.speech = load_speech(default_speech())
        self.samples: list[Sample] = []
        self.completed = 0
        self.failed = 0
        self.started = time.monotonic()

    async def call(self, http: aiohttp.ClientSession, turns: int) -> None:
        options = CallerOptions(
            url=self.url, speech=self.speech, turns=turns, quiet_ms=500, linger_s=0.2,
            greeting_timeout_s=30, reply_timeout_s=30,
        )  # fmt: skip
        try:
            result = await SimulatedCaller(options, http).run()
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            self.failed += 1
            return
        if result.greeting is None:
            self.failed += 1
        self.completed += 1

    async def sample(self, http: aiohttp.ClientSession, phase: str) -> Sample:
        now = await state(http, self.url)
        s = Sample(phase, time.monotonic() - self.started, self.completed, **now)
        self.samples.append(s)
        print(json.dumps(asdict(s)), flush=True)
        return s

    async def settled(self, http: aiohttp.ClientSession, phase: str) -> Sample:
        """The calls are over: wait (a minute at most) until the sidecar has released them
        all, then sample; a call still active then is one it never released."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (await state(http, self.url))["active_calls"] == 0:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # the last call's model socket and tasks wind down
        return await self.sample(http, phase)

    async def sequential(
        self, http: aiohttp.ClientSession, calls: int, every: int, turns: int
    ) -> None:
        await self.sample(http, "sequential")
        for n in range(1, calls + 1):
            await self.call(http, turns)
            if n % every == 0:
                await self.sample(http, "sequential")
        await self.settled(http, "sequential-idle")

    async def concurrent(
        self, http: aiohttp.ClientSession, callers: int, minutes: float, turns: int
    ) -> None:
        deadline = time.monotonic() + minutes * 60

        async def caller(n: int) -> None:
            await asyncio.sleep(n * 0.05)  # arrivals spread like real ones
            while time.monotonic() < deadline:
                await self.call(http, turns)

        async def sampler() -> None:
            while time.monotonic() < deadline:
                await self.sample(http, "concurrent")
                await asyncio.sleep(10)

        await asyncio.gather(sampler(), *(caller(n) for n in range(callers)))
        await self.settled(http, "concurrent-idle")


def fits(samples: list[Sample], warmup: float) -> dict[str, Fit]:
    if not samples:
        return {}
    skip = samples[-1].calls * warmup
    kept = [s for s in samples if s.calls >= skip]
    return {m: f for m in METRICS if (f := fit(kept, m)) is not None}


def report(driver: Driver, warmup: float) -> dict[str, Any]:
    out: dict[str, Any] = {"completed": driver.completed, "failed": driver.failed, "phases": {}}
    for phase in ("sequential", "concurrent"):
        samples = [s for s in driver.samples if s.phase == phase]
        idle = [s for s in driver.samples if s.phase == f"{phase}-idle"]
        phase_fits = fits(samples, warmup)
        out["phases"][phase] = {
            "samples": len(samples),
            "fits": {m: {**asdict(f), "flat": f.flat} for m, f in phase_fits.items()},
            "idle_after": asdict(idle[-1]) if idle else None,
        }
        if phase_fits:
            print(f"\n{phase}: growth per call after warm-up (slope ± stderr, noise)")
            for f in phase_fits.values():
                print(
                    f"  {f.metric:12s} {f.per_call:+.5f} ± {f.stderr:.5f}  noise {f.noise:.3f}"
                    f"  ({f.first:g} → {f.last:g})  {'flat' if f.flat else 'GROWS'}"
                )
    return out


async def drive(args: argparse.Namespace, url: str) -> dict[str, Any]:
    driver = Driver(url)
    sequential_turns = args.turns if args.sequential_turns is None else args.sequential_turns
    timeout = aiohttp.ClientTimeout(total=None)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        # warm: the first call loads what every later one reuses
        await driver.call(http, args.turns)
        if args.sequential:
            await driver.sequential(http, args.sequential, args.every, sequential_turns)
        if args.concurrent and args.minutes > 0:
            await driver.concurrent(http, args.concurrent, args.minutes, args.turns)
    return report(driver, args.warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--every", type=int, default=50, help="sample every N sequential calls")
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--turns", type=int, default=1, help="caller turns per call")
    parser.add_argument(
        "--sequential-turns", type=int, help="caller turns per sequential call (default: --turns)"
    )
    parser.add_argument("--warmup", type=float, default=0.2, help="share of calls left out")
    parser.add_argument("--out", type=Path, default=Path("out/bench/soak"))
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--script", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.script)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as script:
        json.dump(SCRIPT, script)
        script.flush()
        cmd = [sys.executable, __file__, "--serve", str(port), "--script", script.name]
        with child_process(cmd, args.out / "sidecar.log"):
            url = f"http://127.0.0.1:{port}"
            asyncio.run(wait_http(f"{url}/healthz", what="the soak sidecar"))
            started = time.monotonic()
            result = asyncio.run(drive(args, url))
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["args"] = {k: str(v) for k, v in vars(args).items()}
    result["load_avg"] = list(psutil.getloadavg())
    log = summarize_log((args.out / "sidecar.log").read_text(errors="replace"))
    result["log"] = {
        "levels": log.levels,
        "tracebacks": log.tracebacks,
        "asyncio_leftovers": log.leftovers,
        "problems": log.problems,
    }
    (args.out / "soak.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "phases"}, indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
