"""The pacer over the Twilio sink: frames leave inside the tick, one ``playback_finished`` per
reply, a cut one interrupted at the position the echoed marks say.

The sink reports a segment when Twilio echoes its end mark, or at ``clear``. Twilio's side is
played by the test: it echoes the marks of the audio the caller has heard. The pacer's time is
virtual.
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
from sip.sidecar.twilio_sink import TwilioSink
from sip.twilio.protocol import OutboundMessage, serialize_outbound

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

    def events(self) -> list[str]:
        return [str(m["event"]) for m in self.sent]


class SyncSocketLink(TwilioLink):
    """A link whose messages land in the socket the moment they are sent (no writer task),
    so a test can see what left inside a tick without yielding to the loop."""

    def __init__(self, socket: Socket) -> None:
        super().__init__(socket, "MZ1", "CA1")  # type: ignore[arg-type]
        self.socket = socket

    def _put(self, msg: OutboundMessage) -> None:
        self.socket.sent.append(json.loads(serialize_outbound(msg)))


@dataclass
class Rig:
    clock: VirtualClock
    socket: Socket
    link: TwilioLink
    leaf: TwilioSink
    out: PacedAudioOutput
    up: list[io.PlaybackFinishedEvent]
    leaf_events: list[io.PlaybackFinishedEvent]

    def echo(self, name: str) -> None:
        """Twilio: the audio before this mark has played."""
        assert name in self.socket.marks()
        self.link.mark_received(name)

    def echo_all(self) -> None:
        """Twilio after a ``clear``: every mark it held comes back at once."""
        for name in self.socket.marks():
            self.link.mark_received(name)


@pytest.fixture(params=["queued", "sync"])
async def rig(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Rig]:
    """The pacer over the sink, over a real link (its writer task) or one that sends at once."""
    caplog.set_level(logging.WARNING)
    clock, socket = VirtualClock(), Socket()
    link = (
        TwilioLink(socket, "MZ1", "CA1")  # type: ignore[arg-type]
        if request.param == "queued"
        else SyncSocketLink(socket)
    )
    leaf = TwilioSink(link)
    leaf.clock = clock.now
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


def seen(events: list[io.PlaybackFinishedEvent]) -> list[tuple[float, bool]]:
    return [(round(ev.playback_position, 6), ev.interrupted) for ev in events]


async def test_frames_and_marks_leave_inside_the_tick(caplog: pytest.LogCaptureFixture) -> None:
    """No task between the pacer's deadline and the socket: advancing the clock, without
    yielding to the loop once, is enough for each due frame and its mark to be sent."""
    clock, socket = VirtualClock(), Socket()
    link = SyncSocketLink(socket)
    out = PacedAudioOutput(TwilioSink(link), ticker=Ticker(clock), stretch=None)
    try:
        await out.capture_frame(reply(0.1))
        clock.advance(0.05)
        assert socket.sent == []  # the 60 ms hold
        clock.advance(0.01)
        assert socket.events() == ["media", "mark"]
        clock.advance(0.045)  # 20 ms apart from the first
        assert socket.events() == ["media", "mark"] * 3
        out.flush()
        clock.advance(0.04)  # the last two frames, then the segment's end, in the same tick
        assert socket.marks() == ["1:160", "1:320", "1:480", "1:640", "1:800", "1:end"]
    finally:
        await out.aclose()
        await link.aclose()


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
    assert seen(rig.leaf_events) == [(0.12, True)]
    assert seen(rig.up) == [(0.12, True)]
    assert rig.socket.sent[-1]["event"] == "clear"
    assert rig.leaf.played[0].played_samples == 960 and rig.leaf.played[0].interrupted


@pytest.mark.parametrize(("since_echo_s", "heard_s"), [(0.005, 0.125), (0.05, 0.14)])
async def test_a_cut_counts_the_frame_playing_since_the_last_echo_up_to_its_mark(
    rig: Rig, since_echo_s: float, heard_s: float
) -> None:
    """The frame after an echoed mark starts playing as that echo leaves Twilio: a cut counts
    the time since the echo, but never past that frame's own mark (not echoed, so not heard
    in full: Twilio may have run dry)."""
    await rig.out.capture_frame(reply(1.0))
    await run_for(rig.clock, 0.3)
    rig.echo("1:960")
    rig.clock.advance(since_echo_s)
    rig.out.clear_buffer()
    await run_for(rig.clock, 0.1)
    assert seen(rig.leaf_events) == [(heard_s, True)]
    assert rig.leaf.played[0].played_samples == round(heard_s * 8000)


async def test_a_reply_heard_to_its_end_mark_is_one_whole_playback_and_a_later_clear_adds_none(
    rig: Rig,
) -> None:
    await rig.out.capture_frame(reply(0.2))
    rig.out.flush()
    await run_for(rig.clock, 0.4)
    assert rig.socket.marks()[-1] == "1:end"
    rig.echo("1:1600")
    rig.echo("1:end")
    assert seen(rig.up) == [(0.2, False)]
    (played,) = rig.leaf.played
    assert played.heard_at is not None and played.played_out_at is not None
    rig.out.clear_buffer()  # the caller speaks after the reply
    await run_for(rig.clock, 0.1)
    assert len(rig.up) == 1 and len(rig.leaf_events) == 1
    assert "clear" not in rig.socket.events()


async def test_inserted_silence_heard_is_not_reported_as_the_reply(rig: Rig) -> None:
    """The sink counts what the caller heard, silence and all; the pacer reports the reply's
    own audio among it."""
    await rig.out.capture_frame(reply(0.1))
    await run_for(rig.clock, 0.3)  # hold, five frames of reply, then the pacer's silence
    sent = rig.socket.marks()
    assert len(sent) > 6
    rig.echo(sent[-1])  # heard all of it, silence included
    rig.out.clear_buffer()
    await run_for(rig.clock, 0.1)
    assert seen(rig.leaf_events) == [(len(sent) * 0.02, True)]
    assert seen(rig.up) == [(0.1, True)]


async def test_marks_echoed_by_the_clear_are_not_playback(rig: Rig) -> None:
    started: list[io.PlaybackStartedEvent] = []
    rig.leaf.on("playback_started", started.append)
    await rig.out.capture_frame(reply(1.0))
    await run_for(rig.clock, 0.2)
    rig.out.clear_buffer()
    rig.out.flush()  # the session ends the cut reply's segment
    await run_for(rig.clock, 0.05)
    rig.echo_all()  # Twilio returns every pending mark on clear
    assert seen(rig.up) == [(0.0, True)]
    assert started == [] and rig.leaf.played[0].heard_at is None
    # the next reply is reported on its own marks only
    await rig.out.capture_frame(reply(0.1))
    rig.out.flush()
    await run_for(rig.clock, 0.3)
    assert rig.socket.marks()[-1] == "2:end"
    rig.echo("2:end")
    assert seen(rig.up) == [(0.0, True), (0.1, False)]


async def test_mute_sends_nothing_more_and_reports_what_was_heard(rig: Rig) -> None:
    await rig.out.capture_frame(reply(1.0))
    await run_for(rig.clock, 0.3)
    rig.echo("1:800")
    rig.leaf.mute()  # the model failed the call: the apology follows on the stream
    assert seen(rig.leaf_events) == [(0.1, True)]
    sent = len(rig.socket.sent)
    await run_for(rig.clock, 0.5)
    rig.out.flush()
    await run_for(rig.clock, 0.5)
    rig.echo("1:960")  # muted: marks no longer mean our playback
    # a reply started after the mute plays nothing and is reported at once when it ends
    await rig.out.capture_frame(reply(0.2))
    rig.out.flush()
    await run_for(rig.clock, 0.5)
    assert len(rig.socket.sent) == sent
    assert seen(rig.up) == [(0.1, True), (0.0, True)]
    rig.out.clear_buffer()
    await run_for(rig.clock, 0.1)
    assert len(rig.up) == 2 and "clear" not in rig.socket.events()
