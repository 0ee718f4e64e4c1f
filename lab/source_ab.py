"""Pacer A/B on the ``rtc.AudioSource`` path: silence inserted with and without the pacer.

Every room path's agent audio leaves through an ``rtc.AudioSource``, which runs its own 10 ms
clock and plays zeros whenever it holds less than 10 ms. This runs LiveKit's real media path
offline — ``AudioSource`` → ``LocalAudioTrack`` → ``AudioStream.from_track`` in this process,
no server — and feeds it the same bursty producer two ways, at the same time in one event loop
(same load, same schedule):

- ``unpaced``: each model chunk captured as it arrives, in frames of at most 50 ms (RoomIO's
  frame) into a source with a 200 ms queue (LiveKit Agents' setting; ``capture_frame`` waits
  while it is full);
- ``paced``: :class:`~livekit.plugins.pacer.PacedStream` (20 ms frames, the room lead
  ``PacedAudioOutput.ROOM_LEAD_MS``, adaptive hold) into the same kind of source through
  ``AudioSourceSink``.

The producer is the simulator's own bursty timing (:func:`agent.sim.timing.plan_chunks`),
seeded per turn, over the lab's clean reply with its exact zeros nudged to one LSB (−90 dBFS):
the sent audio then has no zero sample, so every zero inside a received reply is silence the
path inserted — counted exactly, no threshold — and the rest must be bit-exact. Turns follow
one another on one stream per arm, so the pacer's hold learns across them as in a call.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

import numpy as np
from livekit import rtc
from livekit.plugins.pacer import AudioSourceSink, PacedAudioOutput, PacedStream

from agent.sim.timing import Chunking, plan_chunks
from lab.clicks import click_times
from lab.pcm import Int16Array
from lab.runs import runs

RATE: Final = 24000
#: LiveKit Agents' AudioSource queue, and RoomIO's frame.
QUEUE_MS: Final = 200
UNPACED_FRAME: Final = RATE // 20
#: After a turn has played out, wait this long so its last frames have left the stream.
SETTLE_S: Final = 0.25


def never_zero(pcm: Int16Array) -> Int16Array:
    """The audio with each exact zero raised to 1: inaudible, and no zero left to confuse."""
    return np.where(pcm == 0, np.int16(1), pcm).astype(np.int16)


def schedule(samples: int, seed: int) -> list[tuple[int, float]]:
    """(samples, seconds after the previous chunk) per chunk, as the simulator would send."""
    chunks = plan_chunks(samples, RATE, Chunking.BURSTY, np.random.default_rng(seed))
    return [(c.samples, c.gen_s if i else 0.0) for i, c in enumerate(chunks)]


@dataclass(frozen=True)
class SourceTurn:
    #: Zero samples inside the received reply, and how many separate runs they form.
    silence_ms: float
    events: int
    #: First chunk pushed → first sound out of the track.
    first_audio_ms: float
    #: Sent samples that never came out (negative: extra ones, e.g. an earlier turn's tail).
    missing_samples: int
    #: The received sound, without the inserted zeros, equals the sent audio sample for sample.
    exact: bool
    clicks: int
    seconds: float
    #: The pacer's start hold for this turn (None unpaced).
    hold_ms: float | None = None


@dataclass
class SourceArm:
    name: str
    turns: list[SourceTurn] = field(default_factory=list)

    def summary(self, clean_clicks_per_min: float) -> dict[str, Any]:
        t = self.turns
        seconds = sum(x.seconds for x in t)
        clicks = sum(x.clicks for x in t) * 60.0 / seconds if seconds else None
        holds = [x.hold_ms for x in t if x.hold_ms is not None]
        return {
            "arm": self.name,
            "turns": len(t),
            "silence_ms": sum(x.silence_ms for x in t),
            "events": sum(x.events for x in t),
            "turns_with_silence": sum(1 for x in t if x.events),
            "first_audio_median_ms": statistics.median(x.first_audio_ms for x in t) if t else None,
            "hold_median_ms": statistics.median(holds) if holds else None,
            "missing_samples": sum(x.missing_samples for x in t),
            "bit_exact": all(x.exact for x in t),
            "clicks_per_min": clicks,
            "clicks_ratio": clicks / clean_clicks_per_min
            if clicks and clean_clicks_per_min
            else None,
        }

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(x) for x in self.turns]


class Loopback:
    """A source, its local track and a stream reading it back, collecting (time, pcm)."""

    def __init__(self, queue_ms: int = QUEUE_MS) -> None:
        self.source = rtc.AudioSource(RATE, 1, queue_size_ms=queue_ms)
        track = rtc.LocalAudioTrack.create_audio_track("lab", self.source)
        self.stream = rtc.AudioStream.from_track(track=track, sample_rate=RATE, num_channels=1)
        self.frames: list[tuple[float, Int16Array]] = []
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.stream:
            pcm = np.frombuffer(event.frame.data, dtype=np.int16).copy()
            self.frames.append((time.monotonic(), pcm))

    def take(self) -> list[tuple[float, Int16Array]]:
        frames, self.frames = self.frames, []
        return frames

    async def settle(self) -> None:
        await self.source.wait_for_playout()
        await asyncio.sleep(SETTLE_S)

    async def aclose(self) -> None:
        self._task.cancel()
        await self.stream.aclose()
        await self.source.aclose()


def measure(
    frames: Sequence[tuple[float, Int16Array]], sent: Int16Array, t_first: float
) -> SourceTurn:
    """One turn's received frames against the sent (never-zero) audio."""
    if not frames:
        raise RuntimeError("the track delivered no frames")
    pcm = np.concatenate([f for _, f in frames])
    sound = np.flatnonzero(pcm)
    if not len(sound):
        raise RuntimeError("the track delivered only silence")
    body = pcm[sound[0] : sound[-1] + 1]
    zeros = body == 0
    first_at = next(t for t, f in frames if f.any())
    return SourceTurn(
        silence_ms=float(np.count_nonzero(zeros)) * 1000.0 / RATE,
        events=len(runs(zeros)),
        first_audio_ms=(first_at - t_first) * 1000.0,
        missing_samples=len(sent) - int(np.count_nonzero(~zeros)),
        exact=bool(np.array_equal(body[~zeros], sent)),
        clicks=len(click_times(body, RATE)),
        seconds=len(body) / RATE,
    )


Deliver = Callable[[Int16Array], Awaitable[None]]


async def produce(
    chunks: Sequence[tuple[int, float]], audio: Int16Array, deliver: Deliver
) -> float:
    """Deliver the chunks on their schedule; returns when the first went out (monotonic)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    at = 0
    t_first = time.monotonic()
    for n, gap in chunks:
        due += gap
        await asyncio.sleep(max(0.0, due - loop.time()))
        if at == 0:
            t_first = time.monotonic()
        await deliver(audio[at : at + n])
        at += n
    return t_first


async def run_unpaced(
    audio: Int16Array, seeds: Sequence[int], on_turn: Callable[[], None]
) -> SourceArm:
    loop = Loopback()
    arm = SourceArm("unpaced")

    async def deliver(pcm: Int16Array) -> None:
        for i in range(0, len(pcm), UNPACED_FRAME):
            part = pcm[i : i + UNPACED_FRAME]
            await loop.source.capture_frame(rtc.AudioFrame(part.tobytes(), RATE, 1, len(part)))

    try:
        for seed in seeds:
            loop.take()
            t_first = await produce(schedule(len(audio), seed), audio, deliver)
            await loop.settle()
            arm.turns.append(measure(loop.take(), audio, t_first))
            on_turn()
    finally:
        await loop.aclose()
    return arm


async def run_paced(
    audio: Int16Array, seeds: Sequence[int], on_turn: Callable[[], None]
) -> SourceArm:
    loop = Loopback()
    sink = AudioSourceSink(loop.source)
    pacer = PacedStream(sink, sample_rate=RATE, lead_ms=PacedAudioOutput.ROOM_LEAD_MS)
    arm = SourceArm("paced")
    try:
        for seed in seeds:
            loop.take()
            t_first = await produce(schedule(len(audio), seed), audio, pacer.push)
            pacer.flush()
            await pacer.wait_idle()
            await sink.drain()
            await loop.settle()
            turn = measure(loop.take(), audio, t_first)
            arm.turns.append(replace(turn, hold_ms=pacer.history[-1].hold * 1000.0))
            on_turn()
    finally:
        await sink.aclose()
        await pacer.aclose()
        await loop.aclose()
    return arm


async def source_ab(
    clean: Int16Array, turns: int, seed: int, on_turn: Callable[[], None]
) -> tuple[SourceArm, SourceArm]:
    """Both arms over the same ``turns`` seeded schedules, side by side."""
    audio = never_zero(clean)
    seeds = [seed + i for i in range(turns)]
    unpaced, paced = await asyncio.gather(
        run_unpaced(audio, seeds, on_turn), run_paced(audio, seeds, on_turn)
    )
    return unpaced, paced
