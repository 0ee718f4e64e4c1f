"""Silence a listener hears from a bursty, stalling model, with and without the pacer (5b).

A producer like a realtime model — chunks of 50–500 ms arriving after stalls of 0–300 ms
(~1.8× real time on average; a variant stalls up to 400 ms) — feeds LiveKit's real media path
with no server: ``rtc.AudioSource`` → ``LocalAudioTrack`` → ``AudioStream``. The source runs
its own 10 ms clock and plays zeros whenever it holds less than 10 ms, so every inserted gap is
visible as zeros inside the received turn (the pushed audio has no zero samples).

Each mode plays the same 12 seeded turns, one after another on one stream, so the adaptive hold
learns across turns as it would across a call:

- ``native``: each chunk captured straight into the source (queue 1000 ms: a 500 ms chunk fits);
- ``paced-lead0`` / ``paced-lead40`` / ``paced-lead100``: the pacer with its defaults (adaptive
  hold, "cover" strategy) into ``AudioSourceSink`` over a source with LiveKit Agents' 200 ms
  queue, at three leads;
- ``paced-delay``: the "delay" strategy (hold for the p90 of recent needed start delays,
  capped at 250 ms), lead 100;
- ``paced-fixed60``: the hold fixed at 60 ms (the old prebuffer), lead 100.

First-audio delay is from the first chunk's arrival to the first non-zero sample out of the
track; "added" is per turn against native's delay for the same seed.

    python bench/pacer_gaps.py --stall-ms 300 400
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc
from livekit.plugins.pacer import AdaptiveHold, AudioSourceSink, PacedStream

from lab.source_ab import RATE as LOOPBACK_RATE
from lab.source_ab import Loopback

RATE = LOOPBACK_RATE  # the loopback's rate: one source, one track, one stream
TURN_S = 3.0


def turn_audio(seed: int) -> np.ndarray:
    """Never-zero samples, distinct per turn, so lost, repeated or inserted audio shows."""
    n = int(TURN_S * RATE)
    return ((np.arange(n, dtype=np.int64) * 7 + seed * 1000) % 30000 + 1).astype(np.int16)


def schedule(seed: int, stall_ms: int) -> list[tuple[int, float]]:
    """(samples, seconds after the previous chunk) for one turn of ``TURN_S`` seconds."""
    rng = random.Random(seed)
    total = int(TURN_S * RATE)
    out: list[tuple[int, float]] = []
    sent = 0
    gap = 0.0
    while sent < total:
        n = min(total - sent, int(rng.uniform(0.05, 0.5) * RATE))
        out.append((n, gap))
        sent += n
        gap = rng.uniform(0.0, stall_ms / 1000)
    return out


@dataclass
class Turn:
    silence_ms: float
    events: int
    first_audio_ms: float
    exact: bool
    wait_ms: float | None = None


@dataclass
class ModeResult:
    mode: str
    turns: list[Turn] = field(default_factory=list)


def measure(frames: list[tuple[float, np.ndarray]], audio: np.ndarray, t_first: float) -> Turn:
    pcm = np.concatenate([f for _, f in frames])
    sound = np.flatnonzero(pcm)
    body = pcm[sound[0] : sound[-1] + 1]
    zeros = body == 0
    events = int(np.count_nonzero(np.diff(zeros.astype(np.int8)) == 1) + int(zeros[0]))
    first_at = next(t for t, f in frames if f.any())
    # the stream hands over 10 ms frames; the first sound lies inside its frame
    return Turn(
        silence_ms=np.count_nonzero(zeros) * 1000 / RATE,
        events=events,
        first_audio_ms=(first_at - t_first) * 1000,
        exact=bool(np.array_equal(body[~zeros], audio)),
    )


async def produce(
    chunks: list[tuple[int, float]],
    audio: np.ndarray,
    deliver: Callable[[np.ndarray], Awaitable[None]],
) -> float:
    loop = asyncio.get_running_loop()
    at, due = 0, loop.time()
    t_first = 0.0
    for n, gap in chunks:
        due += gap
        await asyncio.sleep(max(0.0, due - loop.time()))
        if at == 0:
            t_first = time.monotonic()
        await deliver(audio[at : at + n])
        at += n
    return t_first


async def run_native(seeds: list[int], stall_ms: int) -> ModeResult:
    loop = Loopback(queue_ms=1000)
    result = ModeResult("native")
    await asyncio.sleep(0.1)

    async def deliver(pcm: np.ndarray) -> None:
        await loop.source.capture_frame(rtc.AudioFrame(pcm.tobytes(), RATE, 1, len(pcm)))

    for seed in seeds:
        audio = turn_audio(seed)
        loop.take()
        t_first = await produce(schedule(seed, stall_ms), audio, deliver)
        await loop.source.wait_for_playout()
        await asyncio.sleep(0.25)
        result.turns.append(measure(loop.take(), audio, t_first))
    await loop.aclose()
    return result


async def run_paced(
    seeds: list[int], stall_ms: int, *, lead_ms: int, hold: AdaptiveHold, name: str
) -> ModeResult:
    loop = Loopback(queue_ms=200)
    sink = AudioSourceSink(loop.source)
    pacer = PacedStream(sink, sample_rate=RATE, lead_ms=lead_ms, adaptive_hold=hold)
    result = ModeResult(name)
    await asyncio.sleep(0.1)
    for seed in seeds:
        audio = turn_audio(seed)
        loop.take()
        t_first = await produce(schedule(seed, stall_ms), audio, pacer.push)
        pacer.flush()
        await pacer.wait_idle()
        await sink.drain()
        await loop.source.wait_for_playout()
        await asyncio.sleep(0.25)
        turn = measure(loop.take(), audio, t_first)
        turn.wait_ms = (pacer.history[-1].first_frame_latency or 0.0) * 1000
        result.turns.append(turn)
    await sink.aclose()
    await pacer.aclose()
    await loop.aclose()
    return result


def summarize(result: ModeResult, native: ModeResult) -> str:
    silence = sum(t.silence_ms for t in result.turns)
    ref = sum(t.silence_ms for t in native.turns)
    events = sum(t.events for t in result.turns)
    added = [
        t.first_audio_ms - n.first_audio_ms for t, n in zip(result.turns, native.turns, strict=True)
    ]
    first = statistics.median(t.first_audio_ms for t in result.turns)
    waits = [t.wait_ms for t in result.turns if t.wait_ms is not None]
    wait = f"{statistics.median(waits):.0f} ({min(waits):.0f}–{max(waits):.0f})" if waits else "—"
    share = f"{silence / ref * 100:.0f} %" if ref else "—"
    exact = "yes" if all(t.exact for t in result.turns) else "NO"
    return (
        f"| {result.mode} | {silence:.0f} | {events} | {share} | {first:.0f} | "
        f"{statistics.median(added):+.0f} | {max(added):+.0f} | {wait} | {exact} |"
    )


def per_turn(result: ModeResult, native: ModeResult) -> str:
    cells = [
        f"{i + 1}: {n.silence_ms:.0f}→{t.silence_ms:.0f} ms, waited {t.wait_ms or 0.0:.0f}"
        for i, (t, n) in enumerate(zip(result.turns, native.turns, strict=True))
    ]
    return f"  {result.mode} per turn (native→paced silence): " + "; ".join(cells)


async def main(args: argparse.Namespace) -> None:
    print(
        f"machine: {platform.node()} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · livekit rtc {rtc.__version__}"
    )
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}   load before: {os.getloadavg()}")
    seeds = list(range(args.seed, args.seed + args.turns))
    for stall in args.stall_ms:
        print(f"\n{args.turns} turns × {TURN_S:.0f} s, chunks 50–500 ms, stalls 0–{stall} ms")
        print(
            "| mode | silence ms | events | vs native | median first audio ms | "
            "median added ms | max added ms | pacer wait ms: median (range) | bit-exact |"
        )
        print("|" + " --- |" * 9)
        native = await run_native(seeds, stall)
        print(summarize(native, native), flush=True)
        modes = [(f"paced-lead{lead}", lead, AdaptiveHold()) for lead in (0, 40, 100)]
        modes.append(("paced-delay", 100, AdaptiveHold(strategy="delay")))
        modes.append(("paced-fixed60", 100, AdaptiveHold(adaptive=False)))
        for name, lead, hold in modes:
            if args.modes and name not in args.modes:
                continue
            paced = await run_paced(seeds, stall, lead_ms=lead, hold=hold, name=name)
            print(summarize(paced, native), flush=True)
            if args.per_turn:
                print(per_turn(paced, native))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stall-ms", type=int, nargs="+", default=[300, 400])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--modes", nargs="*", help="paced modes to run (default: all)")
    parser.add_argument("--per-turn", action="store_true", help="print each turn's silence")
    asyncio.run(main(parser.parse_args()))
