"""The real LiveKit media path with no server: rtc.AudioSource → LocalAudioTrack → AudioStream.

The source runs its own 10 ms clock and plays zeros whenever it holds less than 10 ms, so a
producer stall shows up as zeros inside the received audio. The producer here bursts like a
realtime model (a short first chunk, then a 150 ms stall, then more than real time) and the
test counts the zeros that land between the first and last sample of speech: with the source
fed directly, and through the pacer with a 200 ms start hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
from helpers import Pcm, ramp
from livekit import rtc
from livekit.plugins.pacer import AudioSourceSink, PacedStream

RATE = 48000
# (chunk ms, arrival s): 60 ms, a 150 ms stall, then bursts faster than real time
SCHEDULE = [(60, 0.0), (200, 0.15), (120, 0.30), (80, 0.32)]


def to_frame(pcm: Pcm) -> rtc.AudioFrame:
    return rtc.AudioFrame(pcm.tobytes(), RATE, 1, len(pcm))


async def produce(audio: Pcm, deliver: Callable[[Pcm], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    at = 0
    for ms, arrival in SCHEDULE:
        await asyncio.sleep(max(0.0, start + arrival - loop.time()))
        n = ms * RATE // 1000
        await deliver(audio[at : at + n])
        at += n


async def loopback(paced: bool) -> tuple[Pcm, Pcm]:
    """Returns (what was sent, what came out of the track between first and last sound)."""
    source = rtc.AudioSource(RATE, 1, queue_size_ms=200)
    track = rtc.LocalAudioTrack.create_audio_track("agent", source)
    stream = rtc.AudioStream.from_track(track=track, sample_rate=RATE, num_channels=1)
    received: list[Pcm] = []

    async def collect() -> None:
        async for event in stream:
            received.append(np.frombuffer(event.frame.data, dtype=np.int16).copy())

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0.05)
    audio = ramp(sum(ms for ms, _ in SCHEDULE) * RATE // 1000)
    if paced:
        sink = AudioSourceSink(source)
        pacer = PacedStream(
            sink, sample_rate=RATE, prebuffer_ms=200, adaptive_hold=False, lead_ms=100
        )
        await produce(audio, pacer.push)
        pacer.flush()
        await pacer.wait_idle()
        await sink.drain()
        await sink.aclose()
    else:
        await produce(audio, lambda pcm: source.capture_frame(to_frame(pcm)))
    await source.wait_for_playout()
    await asyncio.sleep(0.05)
    collector.cancel()
    await stream.aclose()
    await source.aclose()
    out = np.concatenate(received)
    sound = np.flatnonzero(out)
    return audio, out[sound[0] : sound[-1] + 1]


async def test_native_source_inserts_silence_the_pacer_does_not() -> None:
    sent, native = await loopback(paced=False)
    native_silence_ms = np.count_nonzero(native == 0) * 1000 / RATE
    # the first chunk (60 ms) runs out ~90 ms before the next arrives
    assert native_silence_ms >= 50
    np.testing.assert_array_equal(native[native != 0], sent)

    sent, paced = await loopback(paced=True)
    assert np.count_nonzero(paced == 0) == 0
    np.testing.assert_array_equal(paced, sent)
