"""The pacer at work on a bursty reply: what a caller's line receives, paced and not.

Run it with ``python -m lab.pacer_demo`` (``make demo`` places a whole simulated call).

A realtime model delivers a reply in bursts — 50–500 ms chunks after stalls of up to 300 ms,
faster than real time on average. Forwarding each burst as it arrives (what most Twilio demos
do) puts a second of audio on the wire at once and nothing for the next 300 ms; the pacer sends
one 20 ms frame per 20 ms instead. The demo plays a bundled CMU ARCTIC sentence, resampled to
8 kHz as Twilio carries it, as two replies on one paced stream: the first plays out, the second
is cut by a barge-in. It writes what the paced line carried as a WAV, a PNG of frame send times
(paced vs naive), and prints the pacer's stats.
"""

from __future__ import annotations

import asyncio
import random
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from livekit.plugins.pacer import PacedFrame, PacedStream, SegmentStats
from rich.console import Console
from rich.table import Table

from trunkline.resample import resample

Pcm = npt.NDArray[np.int16]

RATE = 8000
FRAME_MS = 20
SPEECH = "arctic_a0009.wav"


@dataclass(frozen=True)
class Chunk:
    pcm: Pcm
    after: float
    """Seconds after the previous chunk (the model's stall before it)."""


def load_speech(name: str = SPEECH, rate: int = RATE) -> Pcm:
    """A bundled 16 kHz clip, resampled to ``rate``."""
    with (
        resources.files("trunkline.data.speech").joinpath(name).open("rb") as f,
        wave.open(f) as w,
    ):
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return resample(pcm, w.getframerate(), rate)


def bursty_chunks(
    pcm: Pcm,
    rng: random.Random,
    *,
    rate: int = RATE,
    chunk_ms: tuple[int, int] = (50, 500),
    stall_ms: tuple[int, int] = (0, 300),
) -> list[Chunk]:
    """Cut a reply the way a realtime model delivers it: uneven chunks after uneven stalls."""
    chunks: list[Chunk] = []
    at = 0
    while at < len(pcm):
        n = rng.randint(chunk_ms[0] * rate // 1000, chunk_ms[1] * rate // 1000)
        after = rng.uniform(stall_ms[0], stall_ms[1]) / 1000 if chunks else 0.0
        chunks.append(Chunk(pcm[at : at + n], after))
        at += n
    return chunks


def naive_send_times(chunks: list[Chunk], *, rate: int = RATE) -> list[float]:
    """When each 20 ms frame leaves if every chunk is forwarded the moment it arrives."""
    frame = rate * FRAME_MS // 1000
    times: list[float] = []
    now, pending = 0.0, 0
    for chunk in chunks:
        now += chunk.after
        pending += len(chunk.pcm)
        times.extend([now] * (pending // frame))
        pending %= frame
    if pending:
        times.append(now)
    return times


@dataclass
class FrameLog:
    """A sink that keeps every frame with the time it left the pacer."""

    now: Callable[[], float]
    times: list[float] = field(default_factory=list)
    frames: list[Pcm] = field(default_factory=list)
    ended: list[SegmentStats] = field(default_factory=list)

    def on_segment_start(self, segment: SegmentStats) -> None:
        pass

    def on_frame(self, frame: PacedFrame) -> None:
        self.times.append(self.now())
        self.frames.append(frame.pcm.copy())

    def on_segment_end(self, segment: SegmentStats) -> None:
        self.ended.append(segment)

    def audio(self) -> Pcm:
        return np.concatenate(self.frames) if self.frames else np.zeros(0, dtype=np.int16)


async def deliver(
    chunks: list[Chunk],
    push: Callable[[Pcm], Awaitable[None]],
    wait: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Play the producer: each chunk after its stall."""
    for chunk in chunks:
        if chunk.after:
            await wait(chunk.after)
        await push(chunk.pcm)


@dataclass
class DemoRun:
    log: FrameLog
    stream: PacedStream
    chunks: list[Chunk]
    """Reply 1 as the model delivered it."""
    played: SegmentStats
    cut: SegmentStats | None
    """Reply 2, cut by the barge-in."""
    started_at: float


async def run_demo(speech: Pcm, *, seed: int = 7, barge_in_after: float = 1.2) -> DemoRun:
    """Reply 1 plays out in full; reply 2 is cut ``barge_in_after`` seconds into it."""
    log = FrameLog(now=time.monotonic)  # the pacer's own clock, as its stats are
    stream = PacedStream(log, sample_rate=RATE, frame_ms=FRAME_MS)
    rng = random.Random(seed)
    chunks = bursty_chunks(speech, rng)
    started_at = time.monotonic()
    await deliver(chunks, stream.push)
    stream.flush()
    await stream.wait_idle()
    await asyncio.sleep(0.3)
    producer = asyncio.create_task(deliver(bursty_chunks(speech, rng), stream.push))
    await asyncio.sleep(barge_in_after)
    cut = stream.clear()
    producer.cancel()
    await stream.aclose()
    return DemoRun(log, stream, chunks, log.ended[0], cut, started_at)


def write_wav(path: Path, pcm: Pcm, rate: int = RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())


def plot_timing(path: Path, paced: list[float], naive: list[float]) -> None:
    """Frames sent over time, and the gap before each frame, paced vs naive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = FRAME_MS / 1000
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), constrained_layout=True)
    for label, times, color in (
        ("naive (forward on arrival)", naive, "tab:red"),
        ("paced", paced, "tab:blue"),
    ):
        t = np.asarray(times)
        top.step(t, np.arange(1, len(t) + 1), where="post", label=label, color=color)
        bottom.plot(np.arange(1, len(t)), np.diff(t) * 1000, ".", ms=3, label=label, color=color)
    if paced:
        t0 = paced[0]
        line = np.array([0, len(paced)])
        top.plot(t0 + line * frame, line, ":", color="gray", label="real time (20 ms per frame)")
    top.set_xlabel("seconds since the first chunk arrived")
    top.set_ylabel("frames sent")
    top.set_title("A bursty model reply on a Twilio line: frames sent over time")
    top.legend(loc="upper left")
    bottom.set_xlabel("frame")
    bottom.set_ylabel("ms since the previous frame")
    bottom.set_yscale("symlog", linthresh=1)
    bottom.axhline(FRAME_MS, color="gray", ls=":")
    bottom.legend(loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stats_table(run: DemoRun) -> Table:
    table = Table(title="livekit-plugins-pacer on a bursty 8 kHz reply (20 ms frames)")
    table.add_column("")
    table.add_column("reply 1 (played out)", justify="right")
    table.add_column("reply 2 (barge-in)", justify="right")

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:.0f} ms"

    rows: list[tuple[str, Callable[[SegmentStats], str]]] = [
        ("audio pushed", lambda s: ms(s.pushed_samples / s.sample_rate)),
        ("frames sent", lambda s: str(s.frames_out)),
        ("audio sent (exact position)", lambda s: f"{s.emitted_samples} samples"),
        ("start hold applied", lambda s: ms(s.hold)),
        ("  longest it could wait", lambda s: ms(s.hold_limit)),
        ("  learned stall to cover", lambda s: ms(s.cover)),
        ("first audio in → first frame out", lambda s: ms(s.first_frame_latency)),
        ("underruns (silence inserted)", lambda s: f"{s.underruns} ({s.underrun_ms:.0f} ms)"),
        ("late ticks (max lateness)", lambda s: f"{s.late_ticks} ({s.max_lateness * 1000:.1f} ms)"),
        ("queue high-water", lambda s: f"{s.queue_high_water_ms:.0f} ms"),
    ]
    cut = run.cut
    for name, cell in rows:
        table.add_row(name, cell(run.played), cell(cut) if cut is not None else "—")
    return table


def main(out_dir: Path = Path("out")) -> int:
    speech = load_speech()
    run = asyncio.run(run_demo(speech))
    paced = [t - run.started_at for t in run.log.times[: run.played.frames_out]]
    naive = naive_send_times(run.chunks)
    wav, png = out_dir / "pacer_demo.wav", out_dir / "pacer_timing.png"
    write_wav(wav, np.concatenate(run.log.frames[: run.played.frames_out]))
    plot_timing(png, paced, naive)
    console = Console()
    console.print(stats_table(run))
    burst = max(np.bincount(np.round(np.asarray(naive) / 0.02).astype(int)))
    console.print(
        f"naive forwarding sent up to {burst} frames ({burst * FRAME_MS} ms) in one 20 ms slot; "
        f"the pacer sent one per slot.\nwrote {wav} (what the paced line carried) and {png}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
