"""Twilio audio output ⇄ the simulated caller: playback position comes from echoed marks.

A backend plays a tone through :class:`TwilioSink` when the caller presses a key; the
caller simulator plays it out like Twilio. The reported playback position must equal what the
caller actually heard — in full, and when cut short by ``clear`` (barge-in).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp.test_utils import TestServer
from livekit import rtc
from livekit.agents.voice.io import PlaybackFinishedEvent

from lab.caller.call import CallerOptions, SimulatedCaller
from sip.sidecar.app import create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.twilio_io import TwilioAudioInput
from sip.sidecar.twilio_sink import TwilioSink
from tests.waiting import eventually
from trunkline.config import settings_from_env

pytestmark = pytest.mark.virtual_time

FRAME_S = 0.02
CUT_S = 0.61
"""Between two of the caller's ticks: a cut on a tick would tie with the frame starting then."""


def heard_seconds(heard: npt.NDArray[np.int16]) -> float:
    """Tone heard by the caller, counted in 20 ms frames that carry it."""
    frames = heard[: len(heard) // 160 * 160].astype(np.float64).reshape(-1, 160)
    return float(np.sum(np.sqrt(np.mean(frames**2, axis=1)) > 1000) * 0.02)


def tone_frames(seconds: float) -> list[rtc.AudioFrame]:
    n = int(8000 * seconds)
    pcm = (6000 * np.sin(2 * np.pi * 440 * np.arange(n) / 8000)).astype(np.int16)
    return [rtc.AudioFrame(pcm[i : i + 160].tobytes(), 8000, 1, 160) for i in range(0, n, 160)]


@dataclass
class ToneBackend:
    link: TwilioLink
    cut_after_s: float | None
    output: TwilioSink = field(init=False)
    finished: list[PlaybackFinishedEvent] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    playing: asyncio.Future[None] | None = None

    def __post_init__(self) -> None:
        self.output = TwilioSink(self.link)
        self.output.on("playback_finished", self.finished.append)
        self.output.on("playback_started", lambda ev: self.started.append(ev.created_at))

    async def start(self) -> None:
        return None

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        return None

    def dtmf(self, digit: str) -> None:
        self.playing = asyncio.ensure_future(self._play(2.0 if self.cut_after_s else 1.0))

    async def _play(self, seconds: float) -> None:
        for frame in tone_frames(seconds):
            await self.output.capture_frame(frame)
        self.output.flush()
        if self.cut_after_s is not None:
            await asyncio.sleep(self.cut_after_s)
            self.output.clear_buffer()

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[ToneBackend], list[float | None]]]:
    backends: list[ToneBackend] = []
    cut: list[float | None] = [None]

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> ToneBackend:
        backends.append(ToneBackend(link, cut[0]))
        return backends[-1]

    server = TestServer(create_app(settings_from_env({}), factory))
    await server.start_server()
    try:
        yield str(server.make_url("")), backends, cut
    finally:
        await server.close()


def options(url: str) -> CallerOptions:
    return CallerOptions(
        url=url, speech=[[b"\xff" * 160]], turns=0, dtmf="1", greeting_timeout_s=0.3, quiet_ms=300
    )


async def test_full_playback_reported_from_marks(
    served: tuple[str, list[ToneBackend], list[float | None]],
) -> None:
    url, backends, _ = served
    async with aiohttp.ClientSession() as session:
        result = await SimulatedCaller(options(url), session).run()
    (backend,) = backends
    await eventually(lambda: backend.finished)
    (ev,) = backend.finished
    assert not ev.interrupted
    assert ev.playback_position == pytest.approx(1.0)
    assert len(backend.started) == 1
    assert result.marks_acked == 51  # one per frame and the segment's end mark
    assert result.clears == 0
    assert heard_seconds(result.heard) == pytest.approx(1.0, abs=1e-9)


async def test_interrupted_playback_position_is_what_the_caller_heard(
    served: tuple[str, list[ToneBackend], list[float | None]],
) -> None:
    url, backends, cut = served
    cut[0] = CUT_S
    async with aiohttp.ClientSession() as session:
        result = await SimulatedCaller(options(url), session).run()
    (backend,) = backends
    await eventually(lambda: backend.finished)
    (ev,) = backend.finished
    assert ev.interrupted
    assert result.clears == 1
    # the tone reached the caller as it pressed the key, on one of its 20 ms ticks; it started
    # playing at the next tick and was cut 0.61 s after it was sent: 0.59 s of it played
    assert ev.playback_position == pytest.approx(CUT_S - FRAME_S, abs=1e-9)
    # the caller counts whole frames: the one playing at the cut (the 30th) counts as heard
    assert heard_seconds(result.heard) == pytest.approx(30 * FRAME_S, abs=1e-9)


async def test_input_resamples_to_model_rate_and_ends_on_close() -> None:
    source = TwilioAudioInput("CA1")
    t = np.arange(8000) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    for i in range(0, 8000, 160):
        source.push(pcm[i : i + 160])
    source.close()
    frames = [f async for f in source]
    assert all(f.sample_rate == 24000 for f in frames)
    total = sum(f.samples_per_channel for f in frames)
    assert 23000 < total <= 24000  # the filter's tail stays inside until more audio arrives
    out = np.concatenate([np.frombuffer(f.data, np.int16) for f in frames]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(out[2000:14000] * np.hanning(12000)))
    assert abs(np.argmax(spectrum) * 24000 / 12000 - 1000) <= 4
