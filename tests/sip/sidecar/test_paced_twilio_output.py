"""The pacer over the Twilio leaf: one ``playback_finished`` per reply, a cut one interrupted.

The Twilio leaf reports a segment when Twilio echoes its end mark, or at ``clear``. Twilio's
side is played by the test: it echoes the marks of the audio the caller has heard. The pacer's
time is virtual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.voice import io
from livekit.plugins.pacer import PacedAudioOutput
from livekit.plugins.pacer.testing import Ticker, VirtualClock, run_for

from sip.sidecar.link import TwilioLink
from sip.sidecar.twilio_io import TwilioAudioOutput

#: what livekit-agents logs when a segment's playback is reported twice
TWICE = "called more times than playback segments were captured"


@dataclass
class Socket:
    """The media stream's WebSocket, in memory; marks are echoed by the test."""

    sent: list[dict[str, object]] = field(default_factory=list)
    closed: bool = False

    async def send_str(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = True
        return True

    def marks(self) -> list[str]:
        return [str(m["mark"]["name"]) for m in self.sent if m["event"] == "mark"]  # type: ignore[index]


@dataclass
class Rig:
    clock: VirtualClock
    socket: Socket
    link: TwilioLink
    leaf: TwilioAudioOutput
    out: PacedAudioOutput
    up: list[io.PlaybackFinishedEvent]
    leaf_events: list[io.PlaybackFinishedEvent]

    def echo(self, name: str) -> None:
        """Twilio: the audio before this mark has played."""
        assert name in self.socket.marks()
        self.link.mark_received(name)


@pytest.fixture
async def rig(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Rig]:
    caplog.set_level(logging.WARNING)
    clock, socket = VirtualClock(), Socket()
    link = TwilioLink(socket, "MZ1", "CA1")  # type: ignore[arg-type]
    leaf = TwilioAudioOutput(link)
    out = PacedAudioOutput(leaf, ticker=Ticker(clock), stretch=None)
    up: list[io.PlaybackFinishedEvent] = []
    leaf_events: list[io.PlaybackFinishedEvent] = []
    out.on("playback_finished", up.append)
    leaf.on("playback_finished", leaf_events.append)
    yield Rig(clock, socket, link, leaf, out, up, leaf_events)
    await out.aclose()
    await link.aclose()
    assert [r.getMessage() for r in caplog.get_records("call") if TWICE in r.getMessage()] == []


def reply(seconds: float) -> rtc.AudioFrame:
    n = round(seconds * 8000)
    pcm = (np.arange(n) % 3000 + 1).astype(np.int16)
    return rtc.AudioFrame(pcm.tobytes(), 8000, 1, n)


@pytest.mark.parametrize("flushed", [False, True], ids=["producing", "flushed"])
async def test_a_cut_reply_is_one_interrupted_playback_at_the_heard_mark(
    rig: Rig, flushed: bool
) -> None:
    await rig.out.capture_frame(reply(1.0))
    if flushed:
        rig.out.flush()
    await run_for(rig.clock, 0.3)  # 60 ms hold, then 12 frames of 160 samples went out
    rig.echo("1:960")  # the caller has heard six of them
    rig.out.clear_buffer()
    await run_for(rig.clock, 0.1)
    assert [(ev.playback_position, ev.interrupted) for ev in rig.leaf_events] == [(0.12, True)]
    assert [(ev.playback_position, ev.interrupted) for ev in rig.up] == [(0.12, True)]
    assert rig.socket.sent[-1]["event"] == "clear"


async def test_a_reply_heard_to_its_end_mark_is_one_whole_playback_and_a_later_clear_adds_none(
    rig: Rig,
) -> None:
    await rig.out.capture_frame(reply(0.2))
    rig.out.flush()
    await run_for(rig.clock, 0.4)
    assert rig.socket.marks()[-1] == "1:end"
    rig.echo("1:1600")
    rig.echo("1:end")
    assert [(ev.playback_position, ev.interrupted) for ev in rig.up] == [(0.2, False)]
    rig.out.clear_buffer()  # the caller speaks after the reply
    await run_for(rig.clock, 0.1)
    assert len(rig.up) == 1 and len(rig.leaf_events) == 1
    assert all(m["event"] != "clear" for m in rig.socket.sent)
