"""Silence heard from a bursty, stalling model: native source, start hold, adaptive playout.

A producer like a realtime model — chunks of 50–500 ms arriving after stalls of 0–300 ms
(~1.8× real time on average; a variant stalls up to 400 ms) — feeds LiveKit's real media path
with no server: ``rtc.AudioSource`` → ``LocalAudioTrack`` → ``AudioStream``. The source runs
its own 10 ms clock and plays zeros whenever it holds less than 10 ms. The replies are speech
(the bundled CMU ARCTIC clips at 24 kHz) with every exact zero raised to one LSB, so a run of
zeros inside a received reply is silence the path inserted; runs shorter than 1 ms are the
stretcher's own zero crossings, not gaps.

Each mode plays the same seeded turns, one after another on one stream, so the pacer learns
across turns as it would across a call:

- ``native``: each chunk captured straight into the source (queue 1000 ms: a 500 ms chunk fits);
- ``cover``: the pacer's start hold ("cover": wait until the queued audio covers the learned
  stall, at most 250 ms) into ``AudioSourceSink`` over a source with LiveKit Agents' 200 ms
  queue, lead 100 ms (RoomIO's);
- ``stretch-<c>``: adaptive playout (:class:`livekit.plugins.pacer.Stretch`, 0.9× while less
  than the learned stall is ahead) that starts once ``c`` × the learned stall is queued (0: at
  once), same sink and lead; ``-catch-up`` also plays up to 1.1× to make the time good;
- ``lead0`` / ``lead40``, ``delay``, ``fixed60``: earlier variants of the hold (``--modes``).

Per mode: inserted silence (ms, runs, share of native's), added first-audio delay per turn
against native's for the same seed (median, p90), the share of the audio the pacer played
stretched, PESQ-WB of each stretched reply (inserted silence removed) against the reply as the
model made it, and whether unstretched replies arrived bit-exact. A few replies are written as
WAVs under ``--out`` for a person to compare. A last table puts the CPU each mode costs per
stream-second on a virtual clock (the same producers, a sink that does nothing), against
``cover`` in the same run.

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
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.plugins.pacer import (
    AdaptiveHold,
    AudioSourceSink,
    PacedFrame,
    PacedSink,
    PacedStream,
    SegmentStats,
    Stretch,
)
from livekit.plugins.pacer.testing import Ticker, VirtualClock

from lab.align import match_rate
from lab.pcm import to_int16
from lab.quality import pesq_score
from lab.source_ab import RATE as LOOPBACK_RATE
from lab.source_ab import Loopback, never_zero
from lab.speech import bundled_speech_files, load_speech

RATE = LOOPBACK_RATE  # the loopback's rate: one source, one track, one stream
TURN_S = 3.0
#: Zero runs at least this long inside a reply are inserted silence (1 ms).
MIN_GAP = RATE // 1000
LEAD_MS = 100


def speech_turns() -> list[np.ndarray]:
    """The bundled clips at the loopback's rate, cut or looped to one turn, never zero."""
    n = int(TURN_S * RATE)
    out = []
    for path in bundled_speech_files():
        clip = load_speech(path)
        pcm = to_int16(0.9 * match_rate(clip.samples, clip.rate, RATE))
        out.append(never_zero(np.resize(pcm, n)))
    return out


SPEECH = speech_turns()


def turn_audio(seed: int) -> np.ndarray:
    return SPEECH[seed % len(SPEECH)]


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
    played: np.ndarray
    """The received reply with the inserted silence taken out."""
    wait_ms: float | None = None
    stretched_share: float = 0.0
    pesq: float | None = None


@dataclass
class ModeResult:
    mode: str
    turns: list[Turn] = field(default_factory=list)
    received: list[np.ndarray] = field(default_factory=list)


def gap_mask(body: np.ndarray) -> np.ndarray:
    """True on zero runs of at least ``MIN_GAP`` samples."""
    zeros = np.concatenate([[False], body == 0, [False]])
    edges = np.flatnonzero(np.diff(zeros.astype(np.int8)))
    mask = np.zeros(len(body), dtype=bool)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start >= MIN_GAP:
            mask[start:end] = True
    return mask


def measure(frames: list[tuple[float, np.ndarray]], audio: np.ndarray, t_first: float) -> Turn:
    pcm = np.concatenate([f for _, f in frames])
    sound = np.flatnonzero(pcm)
    body = pcm[sound[0] : sound[-1] + 1]
    gaps = gap_mask(body)
    events = int(np.count_nonzero(np.diff(gaps.astype(np.int8)) == 1) + int(gaps[0]))
    first_at = next(t for t, f in frames if f.any())
    played = body[~gaps]
    # the stream hands over 10 ms frames; the first sound lies inside its frame
    return Turn(
        silence_ms=np.count_nonzero(gaps) * 1000 / RATE,
        events=events,
        first_audio_ms=(first_at - t_first) * 1000,
        exact=bool(np.array_equal(played, audio)),
        played=played,
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


def paced_stream(sink: PacedSink, mode: Mode, ticker: Ticker | None = None) -> PacedStream:
    return PacedStream(
        sink,
        sample_rate=RATE,
        lead_ms=mode.lead_ms,
        adaptive_hold=mode.hold(),
        stretch=mode.stretch,
        ticker=ticker,
    )


@dataclass(frozen=True)
class Mode:
    name: str
    lead_ms: int = LEAD_MS
    strategy: str = "cover"
    adaptive: bool = True
    stretch: Stretch | None = None

    def hold(self) -> AdaptiveHold:
        return AdaptiveHold(strategy=self.strategy, adaptive=self.adaptive)  # type: ignore[arg-type]


MODES = [
    Mode("cover"),
    Mode("stretch-0", stretch=Stretch(start_cover=0.0)),
    Mode("stretch-0.5", stretch=Stretch(start_cover=0.5)),
    Mode("stretch-0.75", stretch=Stretch(start_cover=0.75)),
    Mode("stretch-0.75-catch-up", stretch=Stretch(start_cover=0.75, max_rate=1.1)),
    Mode("stretch-1", stretch=Stretch(start_cover=1.0)),
    Mode("lead0", lead_ms=0),
    Mode("lead40", lead_ms=40),
    Mode("delay", strategy="delay"),
    Mode("fixed60", adaptive=False),
]
DEFAULT_MODES = ["cover", "stretch-0", "stretch-0.75", "stretch-0.75-catch-up", "stretch-1"]


async def run_paced(seeds: list[int], stall_ms: int, mode: Mode) -> ModeResult:
    loop = Loopback(queue_ms=200)
    sink = AudioSourceSink(loop.source)
    pacer = paced_stream(sink, mode)
    result = ModeResult(mode.name)
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
        stats = pacer.history[-1]
        turn.wait_ms = (stats.first_frame_latency or 0.0) * 1000
        turn.stretched_share = stats.stretched_share
        if stats.stretched_samples:
            turn.pesq = pesq_score(audio, turn.played, RATE, "wb")
        result.turns.append(turn)
    await sink.aclose()
    await pacer.aclose()
    await loop.aclose()
    return result


class NullSink:
    """Takes frames and does nothing: what the pacer itself costs."""

    def on_segment_start(self, segment: SegmentStats) -> None:
        pass

    def on_frame(self, frame: PacedFrame) -> None:
        pass

    def on_segment_end(self, segment: SegmentStats) -> None:
        pass


def cpu_per_stream_s(seeds: list[int], stall_ms: int, mode: Mode, streams: int) -> float:
    """CPU ms per stream-second of audio, on a virtual clock: ``streams`` streams on one
    ticker play the seeded turns, each stream its own seed order."""
    clock = VirtualClock()
    ticker = Ticker(clock)
    pacers = [paced_stream(NullSink(), mode, ticker) for _ in range(streams)]
    events: list[tuple[float, int, int, int]] = []  # (time, stream, seed index, chunk index)
    plans = [[schedule(seed, stall_ms) for seed in seeds[k:] + seeds[:k]] for k in range(streams)]
    for k, plan in enumerate(plans):
        t = 0.0
        for i, chunks in enumerate(plan):
            for j, (_, gap) in enumerate(chunks):
                t += gap
                events.append((t, k, i, j))
            t += TURN_S + 0.5
    events.sort()
    t0 = clock.now()
    start = time.process_time()
    for at, k, i, j in events:
        clock.advance_to(t0 + at)
        chunks = plans[k][i]
        seed = seeds[(i + k) % len(seeds)]
        offset = sum(n for n, _ in chunks[:j])
        pacers[k].push_nowait(turn_audio(seed)[offset : offset + chunks[j][0]])
        if j == len(chunks) - 1:
            pacers[k].flush()
    clock.advance(TURN_S + 1.0)
    cpu = time.process_time() - start
    audio_s = streams * len(seeds) * TURN_S
    return 1000 * cpu / audio_s


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype(np.int16).tobytes())


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def summarize(result: ModeResult, native: ModeResult) -> str:
    silence = sum(t.silence_ms for t in result.turns)
    ref = sum(t.silence_ms for t in native.turns)
    events = sum(t.events for t in result.turns)
    added = [
        t.first_audio_ms - n.first_audio_ms for t, n in zip(result.turns, native.turns, strict=True)
    ]
    share = f"{silence / ref * 100:.0f} %" if ref else "—"
    audio_total = len(result.turns) * TURN_S
    stretched = sum(t.stretched_share for t in result.turns) * TURN_S / audio_total
    scores = [t.pesq for t in result.turns if t.pesq is not None]
    pesq = (
        f"{statistics.median(scores):.2f} (min {min(scores):.2f}, {len(scores)} replies)"
        if scores
        else "—"
    )
    unstretched = [t for t in result.turns if t.pesq is None]
    exact = "yes" if all(t.exact for t in unstretched) else "NO"
    return (
        f"| {result.mode} | {silence:.0f} | {events} | {share} | "
        f"{statistics.median(added):+.0f} | {_p90(added):+.0f} | {max(added):+.0f} | "
        f"{stretched * 100:.1f} % | {pesq} | {exact} ({len(unstretched)}) |"
    )


def per_turn(result: ModeResult, native: ModeResult) -> str:
    cells = [
        f"{i + 1}: {n.silence_ms:.0f}→{t.silence_ms:.0f} ms, waited {t.wait_ms or 0.0:.0f}"
        + (f", {t.stretched_share * 100:.0f} % stretched" if t.stretched_share else "")
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
    modes = [m for m in MODES if m.name in (args.modes or DEFAULT_MODES)]
    out: Path = args.out
    for stall in args.stall_ms:
        print(f"\n{args.turns} turns × {TURN_S:.0f} s, chunks 50–500 ms, stalls 0–{stall} ms")
        print(
            "| mode | silence ms | runs | vs native | added first audio ms: median | p90 | max "
            "| audio stretched | PESQ-WB stretched vs model: median | unstretched bit-exact |"
        )
        print("|" + " --- |" * 10)
        native = await run_native(seeds, stall)
        print(summarize(native, native), flush=True)
        results = [native]
        for mode in modes:
            paced = await run_paced(seeds, stall, mode)
            results.append(paced)
            print(summarize(paced, native), flush=True)
            if args.per_turn:
                print(per_turn(paced, native))
        for i in range(min(args.wavs, len(seeds))):
            write_wav(out / f"stall{stall}-turn{i + 1}-model.wav", turn_audio(seeds[i]))
            for r in results:
                write_wav(out / f"stall{stall}-turn{i + 1}-{r.mode}.wav", r.turns[i].played)
        print(f"\nCPU per stream-second, virtual clock, {args.cpu_streams} streams, no sink work:")
        print("| mode | CPU ms per stream-s | × cover |")
        print("| --- | --- | --- |")
        costs = {m.name: cpu_per_stream_s(seeds, stall, m, args.cpu_streams) for m in modes}
        ref = costs.get("cover")
        for name, cost in costs.items():
            ratio = f"{cost / ref:.2f}×" if ref else "—"
            print(f"| {name} | {cost:.3f} | {ratio} |", flush=True)
    print(f"load after: {os.getloadavg()}; WAVs in {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stall-ms", type=int, nargs="+", default=[300, 400])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument(
        "--modes", nargs="*", help=f"paced modes to run (default: {' '.join(DEFAULT_MODES)})"
    )
    parser.add_argument("--per-turn", action="store_true", help="print each turn's silence")
    parser.add_argument("--wavs", type=int, default=3, help="turns to write as WAVs per mode")
    parser.add_argument("--cpu-streams", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("out/bench/pacer_gaps"))
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(arguments))
