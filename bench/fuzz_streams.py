"""Long fuzz campaign: 10^5 mutated Twilio messages into one sidecar while honest callers talk.

The sidecar is ``trunkline serve`` in local mode (the embedded simulator, an agent session per
call), run as its own process and logging JSON lines to a file, as deployed. This process plays
``--concurrent`` hostile Twilio peers (``lab.caller.hostile``: real media streams, each a
seeded mutation of an honest sequence — renamed events, retyped and dropped fields, payloads
past every limit, UTF-16, invalid UTF-8, binary frames, truncated JSON, duplicates, swaps, drops,
sockets closed half-way; five in six with a real stream token from the webhook, so the spoiled
messages reach a live agent session) until ``--messages`` messages are sent, and meanwhile one
honest simulated caller places calls back to back (``--honest-turns`` turns each), plus one more
once the campaign is over.

Per stream the contract is the fuzzer's: the sidecar closes it with a clean code
(``CLEAN_CLOSES``) or drops what it cannot use and carries on; on our side nothing but a
connection the sidecar closed under a send goes wrong. Every honest call is answered: a
greeting and a reply to every turn. The sidecar's log has no line at ERROR or above, no
traceback, no never-retrieved task exception, no destroyed pending task, and one line saying
how the call ended for every stream and honest call. Any breach makes the exit status 1.

Usage::

    python bench/fuzz_streams.py [--messages 100000] [--concurrent 8] [--seed 15] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.hostile import CLEAN_CLOSES, Mutator, StreamOutcome, hostile_stream
from lab.caller.runner import load_speech
from trunkline.child import embedded_sidecar, free_port
from trunkline.logs import summarize_log

#: one line per call saying how it ended (sip.sidecar's call log)
ENDED = " ended after "
#: a forged token on every sixth stream, as in the suite's short campaign
FORGED_EVERY = 6


@dataclass
class Campaign:
    outcomes: list[StreamOutcome] = field(default_factory=list)
    honest: list[bool] = field(default_factory=list)
    """Per honest call: answered (greeting and every turn's reply)."""
    honest_failures: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(o.sent for o in self.outcomes)


def forged(outcome: StreamOutcome) -> bool:
    return int(outcome.call_sid.removeprefix("CAfuzz")) % FORGED_EVERY == 0


def breach(outcome: StreamOutcome) -> str | None:
    """What in this stream's ending breaks the contract, if anything."""
    if outcome.error is not None and "Connection" not in outcome.error:
        return outcome.error
    if outcome.closed_by_sidecar and outcome.close_code not in CLEAN_CLOSES:
        return f"closed with {outcome.close_code}"
    return None


async def honest_call(
    http: aiohttp.ClientSession, url: str, speech: list[list[bytes]], turns: int, c: Campaign
) -> None:
    options = CallerOptions(url=url, speech=speech, turns=turns, quiet_ms=600)
    try:
        result = await SimulatedCaller(options, http).run()
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        c.honest.append(False)
        c.honest_failures.append(f"{type(exc).__name__}: {exc}")
        return
    answered = (
        result.greeting is not None
        and len(result.turns) == turns
        and all(t.latency_ms is not None for t in result.turns)
    )
    c.honest.append(answered)
    if not answered:
        heard = [
            (t.turn, t.latency_ms, t.heard_ms, t.gaps)
            for t in [result.greeting, *result.turns]
            if t
        ]
        c.honest_failures.append(f"{result.call_sid}: (turn, latency ms, heard ms, gaps) {heard}")


async def campaign(args: argparse.Namespace, url: str) -> Campaign:
    c = Campaign()
    mutator = Mutator(args.seed)
    numbers = itertools.count()
    speech = load_speech(default_speech())
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def hostile() -> None:
            while c.sent < args.messages:
                n = next(numbers)
                sid = f"CAfuzz{n}"
                outcome = await hostile_stream(
                    http, url, sid, mutator, real_token=n % FORGED_EVERY != 0
                )
                c.outcomes.append(outcome)
                if n % 200 == 0:
                    print(f"  {len(c.outcomes)} streams, {c.sent} messages", flush=True)

        async def honest() -> None:
            while not done.is_set():
                await honest_call(http, url, speech, args.honest_turns, c)

        honest_task = asyncio.create_task(honest())
        await asyncio.gather(*(hostile() for _ in range(args.concurrent)))
        done.set()
        await honest_task
        await honest_call(http, url, speech, args.honest_turns, c)  # and after it
        await idle(http, url)
    return c


async def idle(http: aiohttp.ClientSession, url: str, within_s: float = 60) -> None:
    """Until the sidecar has released every call, or ``within_s`` passed (then it says so)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        async with http.get(f"{url}/healthz") as resp:
            if (await resp.json())["active_calls"] == 0:
                return
        await asyncio.sleep(0.25)


def report(args: argparse.Namespace, c: Campaign, log_text: str, wall_s: float) -> dict[str, Any]:
    breaches = [(o.call_sid, b) for o in c.outcomes if (b := breach(o)) is not None]
    mutations: Counter[str] = Counter()
    for o in c.outcomes:
        mutations.update(o.mutations)
    summary = summarize_log(log_text)
    ended = sum(1 for line in log_text.splitlines() if ENDED in line)
    calls = len(c.outcomes) + len(c.honest)
    return {
        "machine": f"{platform.machine()} {psutil.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "args": {k: str(v) for k, v in vars(args).items()},
        "wall_s": round(wall_s, 1),
        "load_avg": [round(x, 2) for x in psutil.getloadavg()],
        "streams": len(c.outcomes),
        "messages": c.sent,
        "forged_token_streams": sum(1 for o in c.outcomes if forged(o)),
        "closed_by_sidecar": Counter(
            str(o.close_code) for o in c.outcomes if o.closed_by_sidecar
        ).most_common(),
        "hung_up_by_us": sum(1 for o in c.outcomes if not o.closed_by_sidecar),
        "send_errors": Counter(o.error.split(":")[0] for o in c.outcomes if o.error).most_common(),
        "breaches": breaches[:20],
        "breach_count": len(breaches),
        "mutations": dict(mutations.most_common()),
        "honest_calls": len(c.honest),
        "honest_answered": sum(c.honest),
        "honest_failures": c.honest_failures[:5],
        "log": {
            "levels": summary.levels,
            "errors": summary.errors,
            "tracebacks": summary.tracebacks,
            "asyncio_leftovers": summary.leftovers,
            "problems": summary.problems,
            "ended_lines": ended,
            "calls": calls,
        },
    }


def verdict(result: dict[str, Any]) -> list[str]:
    log = result["log"]
    failures = []
    if result["messages"] < int(result["args"]["messages"]):
        failures.append(f"only {result['messages']} messages sent")
    if result["breach_count"]:
        failures.append(f"{result['breach_count']} streams ended outside the contract")
    if result["honest_answered"] != result["honest_calls"]:
        failures.append(f"{result['honest_answered']}/{result['honest_calls']} honest answered")
    if log["errors"] or log["tracebacks"] or log["asyncio_leftovers"]:
        failures.append(
            f"sidecar log: {log['errors']} ERROR+, {log['tracebacks']} tracebacks, "
            f"{log['asyncio_leftovers']} asyncio leftovers"
        )
    if log["ended_lines"] != log["calls"]:
        failures.append(f"{log['ended_lines']} 'ended after' lines for {log['calls']} calls")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrent", type=int, default=8, help="hostile streams at once")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--honest-turns", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("out/bench/fuzz"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "sidecar.log"
    sim = ["--sim-think-ms", "300", "--sim-chunking", "steady"]
    started = time.monotonic()
    with embedded_sidecar(free_port(), args.out / "turns.jsonl", log_file, sim) as sidecar:
        asyncio.run(sidecar.wait_ready())
        c = asyncio.run(campaign(args, sidecar.url))
    result = report(args, c, log_file.read_text(errors="replace"), time.monotonic() - started)
    (args.out / "fuzz.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "mutations"}, indent=2))
    failures = verdict(result)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
