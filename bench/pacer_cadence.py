"""Cadence and CPU of N paced streams on one event loop (issue 2, item 5a).

Three ways of sending one 20 ms Twilio media message per stream per frame, each doing the same
per-frame work (μ-law encode, base64, JSON) for N streams on one asyncio loop:

- ``bare``: one loop sleeping to absolute deadlines ``t0 + k·20 ms`` and serving every stream
  each wake-up — no queues, no stats: the machine's limit, measured in the same run;
- ``pacer``: N ``PacedStream`` on the shared ticker, fed 1 s chunks by a producer task that
  visits 1/50 of the streams every 20 ms (its CPU is counted);
- ``naive``: a task per stream doing ``await asyncio.sleep(0.02)`` after each frame.

Error is emission time minus the frame's ideal time. Drift is how far the last frame's ideal
time moved from ``first + (n-1)·20 ms`` (the schedule itself) and how far the last emission is
from where a perfect clock would have put it. The machine is shared, so every figure that
matters is a ratio against ``bare`` from the same invocation.

    python bench/pacer_cadence.py --streams 1 100 500 --seconds 60 --repeat 2

Each pacer row's ratios are against the bare row just before it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import time
from array import array
from dataclasses import dataclass

import numpy as np
from livekit.plugins.pacer import PacedFrame, PacedStream, SegmentStats

from sip import g711

RATE = 8000
FRAME = 0.02
F = 160
WARMUP = 2.0


def media_message(pcm: np.ndarray, sid: str) -> str:
    payload = base64.b64encode(g711.encode(pcm)).decode()
    return json.dumps({"event": "media", "streamSid": sid, "media": {"payload": payload}})


def speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 6000 * np.sin(2 * np.pi * 220 * t) + 2000 * np.sin(2 * np.pi * 1330 * t)
    return np.asarray(tone, dtype=np.int16)


@dataclass
class Result:
    mode: str
    streams: int
    seconds: float
    frames: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    schedule_drift_ms: float
    end_drift_ms: float
    cpu_ms_per_stream_s: float
    late_ticks: int = 0
    underruns: int = 0


class Meter:
    """Per-frame error and per-stream first/last times, kept cheaply for millions of frames."""

    def __init__(self, streams: int, measure_from: float) -> None:
        self.errors = array("d")
        self.measure_from = measure_from
        self.first = [(0.0, 0.0)] * streams  # (ideal, emitted) of each stream's first frame
        self.last = [(0.0, 0.0)] * streams
        self.count = [0] * streams
        self.sent_bytes = 0

    def record(self, stream: int, ideal: float, emitted: float) -> None:
        if self.count[stream] == 0:
            self.first[stream] = (ideal, emitted)
        self.last[stream] = (ideal, emitted)
        self.count[stream] += 1
        if emitted >= self.measure_from:
            self.errors.append(emitted - ideal)

    def result(self, mode: str, seconds: float, cpu: float, **extra: int) -> Result:
        errors = np.frombuffer(self.errors, dtype=np.float64) * 1000
        schedule, end = 0.0, 0.0
        for (i0, e0), (i1, e1), n in zip(self.first, self.last, self.count, strict=True):
            if n < 2:
                continue
            schedule = max(schedule, abs((i1 - i0) - (n - 1) * FRAME))
            end = max(end, abs((e1 - e0) - (n - 1) * FRAME))
        streams = len(self.count)
        return Result(
            mode=mode,
            streams=streams,
            seconds=seconds,
            frames=sum(self.count),
            p50_ms=float(np.percentile(errors, 50)),
            p99_ms=float(np.percentile(errors, 99)),
            max_ms=float(errors.max()),
            schedule_drift_ms=schedule * 1000,
            end_drift_ms=end * 1000,
            cpu_ms_per_stream_s=cpu * 1000 / (streams * seconds),
            **extra,
        )


async def run_bare(streams: int, seconds: float) -> Result:
    loop = asyncio.get_running_loop()
    audio = speech(2.0)
    sids = [f"MZ{i:032d}" for i in range(streams)]
    t0 = loop.time() + 0.05
    meter = Meter(streams, time.monotonic() + WARMUP)
    cpu0 = time.process_time()
    k = 0
    while True:
        ideal = t0 + k * FRAME
        if ideal > t0 + seconds:
            break
        await asyncio.sleep(ideal - loop.time())
        at = (k * F) % (len(audio) - F)
        for i in range(streams):
            emitted = time.monotonic()
            meter.sent_bytes += len(media_message(audio[at : at + F], sids[i]))
            meter.record(i, ideal, emitted)
        k += 1
    return meter.result("bare", seconds, time.process_time() - cpu0)


class BenchSink:
    def __init__(self, meter: Meter, index: int) -> None:
        self.meter = meter
        self.index = index
        self.sid = f"MZ{index:032d}"

    def on_segment_start(self, segment: SegmentStats) -> None:
        pass

    def on_frame(self, frame: PacedFrame) -> None:
        emitted = time.monotonic()
        self.meter.sent_bytes += len(media_message(frame.pcm, self.sid))
        self.meter.record(self.index, frame.deadline, emitted)

    def on_segment_end(self, segment: SegmentStats) -> None:
        pass


async def run_pacer(streams: int, seconds: float) -> Result:
    audio = speech(1.0)
    meter = Meter(streams, time.monotonic() + WARMUP)
    paced = [
        PacedStream(BenchSink(meter, i), sample_rate=RATE, max_buffer_ms=10_000)
        for i in range(streams)
    ]
    cpu0 = time.process_time()
    for s in paced:
        for _ in range(4):
            s.push_nowait(audio)
    # the producer visits 1/50 of the streams every 20 ms, as replies from many calls would
    # arrive spread out, instead of refilling every stream in one burst; 3-4 s stay queued so
    # a busy loop visiting late never starves a stream (underruns would not be the pacer's)
    end = time.monotonic() + seconds
    step = -(-streams // 50)
    i = 0
    while time.monotonic() < end:
        await asyncio.sleep(FRAME)
        for s in paced[i : i + step]:
            while s.queued_samples < 3 * RATE:  # a visit may come late: top up, not +1 s
                s.push_nowait(audio)
        i = (i + step) % streams
    cpu = time.process_time() - cpu0
    late = sum(s.current_segment.late_ticks for s in paced if s.current_segment)
    underruns = sum(s.current_segment.underruns for s in paced if s.current_segment)
    for s in paced:
        await s.aclose()
    return meter.result("pacer", seconds, cpu, late_ticks=late, underruns=underruns)


async def run_naive(streams: int, seconds: float) -> Result:
    loop = asyncio.get_running_loop()
    audio = speech(2.0)
    meter = Meter(streams, time.monotonic() + WARMUP)
    t0 = loop.time() + 0.05
    stop = t0 + seconds

    async def one(i: int) -> None:
        sid = f"MZ{i:032d}"
        await asyncio.sleep(t0 - loop.time())
        k = 0
        while loop.time() < stop:
            emitted = time.monotonic()
            at = (k * F) % (len(audio) - F)
            meter.sent_bytes += len(media_message(audio[at : at + F], sid))
            meter.record(i, t0 + k * FRAME, emitted)
            k += 1
            await asyncio.sleep(FRAME)

    cpu0 = time.process_time()
    await asyncio.gather(*(one(i) for i in range(streams)))
    return meter.result("naive", seconds, time.process_time() - cpu0)


RUNNERS = {"bare": run_bare, "pacer": run_pacer, "naive": run_naive}


def machine() -> str:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{platform.node()} · {os.cpu_count()} cores ({model}) · Python "
        f"{platform.python_version()} · {platform.system()} {platform.release()}"
    )


def row(r: Result, ref: Result | None) -> str:
    ratio = ""
    if ref is not None and r is not ref:
        cpu = r.cpu_ms_per_stream_s / ref.cpu_ms_per_stream_s
        ratio = f" | {r.p99_ms / ref.p99_ms:.2f}× | {cpu:.2f}×"
    elif ref is not None:
        ratio = " | 1.00× | 1.00×"
    return (
        f"| {r.mode} | {r.streams} | {r.seconds:.0f} s | {r.frames} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.max_ms:.1f} | {r.schedule_drift_ms:.1f} | {r.end_drift_ms:.1f} | "
        f"{r.cpu_ms_per_stream_s:.3f} | {r.late_ticks} | {r.underruns}{ratio} | "
        f"{os.getloadavg()[0]:.1f} |"
    )


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}   load before: {os.getloadavg()}")
    print(
        "| mode | N | length | frames | p50 ms | p99 ms | max ms | schedule drift ms | "
        "end drift ms | CPU ms per stream·s | late ticks | underruns | p99 vs bare | CPU vs bare "
        "| machine load (1 min) |"
    )
    print("|" + " --- |" * 15)
    for n in args.streams:
        ref: Result | None = None
        for mode in [m for _ in range(args.repeat) for m in args.modes if m != "naive"] + [
            m for m in args.modes if m == "naive"
        ]:
            result = await RUNNERS[mode](n, args.seconds)
            if mode == "bare":
                ref = result
            print(row(result, ref), flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 100, 500])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--modes", nargs="+", default=["bare", "pacer", "naive"], choices=RUNNERS)
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate bare and pacer this many times (noise)"
    )
    asyncio.run(main(parser.parse_args()))
