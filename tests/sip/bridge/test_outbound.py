"""The agent's audio out to Twilio, on a virtual clock: gating, pacing, marks, clear.

The sink is local mode's too (``sip.sidecar.twilio_sink``): a mark after every frame,
``"<stretch>:<samples sent>"``, and ``"<stretch>:end"`` after the last."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt
import pytest
from livekit.plugins.pacer import SegmentStats
from livekit.plugins.pacer.testing import Ticker, VirtualClock
from prometheus_client import REGISTRY

from sip import g711
from sip.bridge.gate import GateSettings
from sip.bridge.outbound import AgentAudio
from sip.sidecar.link import TwilioLink
from sip.sidecar.twilio_sink import PlayedSegment
from sip.twilio.pacing import Pacing

FRAME = 160


class RecordingLink:
    """What the pacer's sink sends, in order; marks are echoed by the test, like Twilio."""

    call_id = "CAunit"

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []
        self._listeners: list[object] = []

    def send_media(self, ulaw: bytes) -> None:
        self.sent.append(("media", ulaw))

    def send_mark(self, name: str) -> None:
        self.sent.append(("mark", name))

    def send_clear(self) -> None:
        self.sent.append(("clear", None))

    def add_mark_listener(self, listener: object) -> None:
        self._listeners.append(listener)

    def mark_received(self, name: str) -> None:
        for listener in self._listeners:
            listener(name)  # type: ignore[operator]

    def media(self) -> list[bytes]:
        return [cast(bytes, body) for kind, body in self.sent if kind == "media"]

    def marks(self) -> list[str]:
        return [cast(str, body) for kind, body in self.sent if kind == "mark"]


def sound(n: int = 1, start: int = 0) -> list[npt.NDArray[np.int16]]:
    t = np.arange(start * FRAME, (start + n) * FRAME) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 500 * t)).astype(np.int16)
    return [pcm[i * FRAME : (i + 1) * FRAME] for i in range(n)]


def quiet(n: int = 1) -> list[npt.NDArray[np.int16]]:
    return [np.zeros(FRAME, dtype=np.int16) for _ in range(n)]


class Rig:
    def __init__(self, min_hold_ms: float = 60.0) -> None:
        self.clock = VirtualClock()
        self.link = RecordingLink()
        self.audio = AgentAudio(
            cast(TwilioLink, self.link),
            Pacing(),
            GateSettings(hangover_ms=100),
            min_hold_ms=min_hold_ms,
            ticker=Ticker(self.clock),
        )
        self.reported: list[PlayedSegment] = []
        log = self.audio.sink.on_played
        assert log is not None

        def report(stretch: PlayedSegment) -> None:
            self.reported.append(stretch)
            log(stretch)

        self.audio.sink.on_played = report

    def play(self, frames: list[npt.NDArray[np.int16]]) -> None:
        """Frames arriving from the room in real time, 20 ms apart."""
        for pcm in frames:
            self.audio.feed(pcm)
            self.clock.advance(0.02)


def stats(stretch: PlayedSegment) -> SegmentStats:
    assert stretch.segment is not None
    return stretch.segment


async def test_a_stretch_is_paced_out_with_its_hangover_and_a_mark_per_frame() -> None:
    rig = Rig()
    rig.play(quiet(3) + sound(10) + quiet(5) + quiet(5))
    rig.clock.advance(1.0)
    # silence before the stretch is never sent; its 100 ms hangover is
    media = rig.link.media()
    assert len(media) == 15
    assert media[:10] == [g711.encode(f) for f in sound(10)]
    assert media[10:] == [g711.encode(f) for f in quiet(5)]
    assert rig.link.marks() == [f"1:{FRAME * n}" for n in range(1, 16)] + ["1:end"]
    assert rig.link.sent[1] == ("mark", "1:160")  # right after the first frame
    assert rig.link.sent[-1] == ("mark", "1:end")
    (stretch,) = rig.audio.stretches
    assert stats(stretch).hold == pytest.approx(0.06)  # the configured prebuffer
    assert stats(stretch).underruns == 0


async def test_echoed_marks_time_when_the_caller_heard_the_stretch() -> None:
    rig = Rig()
    rig.play(sound(5))
    first_frame = stats(rig.audio.stretches[0]).first_frame_at
    assert first_frame is not None
    echoed = rig.clock.now()
    rig.link.mark_received("1:160")  # Twilio: the first frame has played
    rig.play(sound(5, start=5) + quiet(5))
    rig.clock.advance(1.0)
    rig.link.mark_received("1:end")
    (stretch,) = rig.reported
    assert stretch.heard_at == pytest.approx(echoed - 0.02)
    assert stretch.transport_s == pytest.approx(echoed - 0.02 - first_frame)
    assert stretch.played_out_at == pytest.approx(rig.clock.now())
    assert not stretch.interrupted
    assert stretch.played_samples == stretch.sent_samples == 15 * FRAME
    rig.link.mark_received("1:end")  # a repeat is ignored
    rig.link.mark_received("bridge:apology")  # another sender's
    assert len(rig.reported) == 1


async def test_an_interruption_clears_twilio_cuts_the_stretch_and_drops_its_tail() -> None:
    rig = Rig()
    rig.play(sound(10))
    sent_before = len(rig.link.media())
    rig.audio.interrupt()
    assert rig.link.sent[-1] == ("clear", None)
    (cut,) = rig.reported
    assert cut.interrupted
    rig.link.mark_received("1:160")  # echoed by the clear: not playback
    assert cut.heard_at is None and cut.played_samples == 0
    # the reply's tail still arriving from the room is dropped until it goes quiet
    rig.play(sound(5, start=10) + quiet(3))
    rig.clock.advance(1.0)
    assert len(rig.link.media()) == sent_before
    assert rig.audio.gate.dropped_after_clear == 8 * FRAME
    # the next reply plays as a new stretch
    rig.play(sound(4) + quiet(5))
    rig.clock.advance(1.0)
    assert rig.link.marks()[-2:] == [f"2:{9 * FRAME}", "2:end"]


async def test_the_hold_never_learns_below_its_floor() -> None:
    """Smooth arrivals teach the pacer that no hold was needed; the room's jitter says
    otherwise, so later stretches still start with the floor in hand."""
    rig = Rig(min_hold_ms=40)
    for _ in range(3):
        rig.play(sound(5) + quiet(5))
        rig.clock.advance(0.5)
    holds = [stats(s).hold for s in rig.audio.stretches]
    assert holds[0] == pytest.approx(0.06)
    assert holds[1:] == [pytest.approx(0.04)] * 2


async def test_closing_reports_stretches_still_awaiting_their_marks() -> None:
    rig = Rig()
    rig.play(sound(5) + quiet(5))
    rig.clock.advance(1.0)
    assert rig.reported == []
    await rig.audio.aclose()
    (stretch,) = rig.reported
    assert stretch.interrupted and stretch.played_out_at is None


async def test_frames_and_marks_leave_inside_the_tick_and_a_cut_keeps_what_was_heard() -> None:
    """No task between the pacer and the link: each due frame and its mark are sent by the
    time the clock has moved, and the marks echoed before a cut say how much was heard."""
    rig = Rig()
    for pcm in sound(6):
        rig.audio.feed(pcm)
    assert rig.link.sent == []
    rig.clock.advance(0.065)  # the 60 ms hold, then the first frame and the lead's
    sent = len(rig.link.media())
    expected = [g711.encode(pcm) for pcm in sound(6)]
    assert 1 <= sent < 6
    assert rig.link.sent == [
        item
        for i in range(sent)
        for item in (("media", expected[i]), ("mark", f"1:{FRAME * (i + 1)}"))
    ]
    rig.clock.advance(0.04)
    assert len(rig.link.media()) == sent + 2
    rig.link.mark_received("1:160")
    rig.link.mark_received("1:320")
    rig.audio.interrupt()
    rig.link.mark_received(f"1:{FRAME * (sent + 2)}")  # echoed by the clear
    (cut,) = rig.reported
    assert cut.interrupted and cut.played_samples == 320 and cut.heard_at is not None


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"path": "twilio-ws", "pacer": "bridge"}) or 0.0


async def test_a_late_tick_past_the_lead_is_a_heard_gap_in_the_metrics() -> None:
    """The process stalls for longer than Twilio's buffer holds: the caller hears a gap, and
    the bridge's own metrics say so (in whole 20 ms frames, as Twilio plays them)."""
    gaps, gap_s = (
        sample("trunkline_pacer_late_gaps_total"),
        sample("trunkline_pacer_late_gap_seconds_total"),
    )
    rig = Rig()
    rig.play(sound(10))
    rig.clock.lag = 0.15  # every timer from now fires 150 ms late, far past the 60 ms lead
    rig.clock.advance(0.2)
    rig.clock.lag = 0.0
    rig.play(sound(5, start=10) + quiet(5))
    rig.clock.advance(1.0)
    rig.link.mark_received("1:end")
    (stretch,) = rig.reported
    # one gap, in whole frames: Twilio's buffer ran dry 100 ms before the late tick's frame
    assert stats(stretch).late_gaps == 1 and stats(stretch).late_gap_ms == pytest.approx(100.0)
    assert sample("trunkline_pacer_late_gaps_total") == gaps + 1
    assert sample("trunkline_pacer_late_gap_seconds_total") == pytest.approx(gap_s + 0.1)
