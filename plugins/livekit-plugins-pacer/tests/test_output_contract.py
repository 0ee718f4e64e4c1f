"""One ``playback_finished`` per segment, whatever leaf the pacer wraps.

A barge-in (``clear_buffer()``) must reach the session as exactly one ``playback_finished`` for
the reply it cut, saying ``interrupted=True`` whenever the clear dropped audio that never
played. Leaves end a segment in different ways: RoomIO's reports once its ``rtc.AudioSource``
drained or was cleared, Twilio's (trunkline's, tested beside it) when a mark comes back or on
``clear``, and a leaf that plays frames as they arrive reports at ``flush()``: everything it
was given has played by then. A leaf that takes its frames straight from the tick (a
``DirectAudioOutput``, as trunkline's Twilio sink is) never sees ``capture_frame``, so its
segments and the swap proxy's are counted on the way. The pacer's time is virtual throughout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from helpers import DirectLeaf, frame, ramp
from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.room_io._output import _ParticipantAudioOutput
from livekit.plugins.pacer import PacedAudioOutput
from livekit.plugins.pacer.testing import Ticker, VirtualClock, run_for

#: what livekit-agents logs when a segment's playback is reported twice
TWICE = "called more times than playback segments were captured"


class InstantLeaf(io.AudioOutput):
    """Plays each frame as it arrives (a local device, a file): at ``flush()`` all of it has
    played. A segment ends at ``flush()`` or ``clear_buffer()``, as ``io.AudioOutput`` says, so
    each of them reports one."""

    def __init__(self) -> None:
        super().__init__(
            label="Instant", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=8000
        )
        self.played = 0.0
        self.reports: list[tuple[float, bool]] = []

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self.played:
            self.on_playback_started(created_at=time.time())
        self.played += frame.duration

    def flush(self) -> None:
        super().flush()
        self._report(interrupted=False)

    def clear_buffer(self) -> None:
        self._report(interrupted=True)

    def _report(self, *, interrupted: bool) -> None:
        self.reports.append((round(self.played, 6), interrupted))
        self.on_playback_finished(playback_position=self.played, interrupted=interrupted)
        self.played = 0.0


def seen(events: list[io.PlaybackFinishedEvent]) -> list[tuple[float, bool]]:
    """(position, interrupted) of each event, positions to the microsecond."""
    return [(round(ev.playback_position, 6), ev.interrupted) for ev in events]


def finished(output: io.AudioOutput) -> list[io.PlaybackFinishedEvent]:
    events: list[io.PlaybackFinishedEvent] = []
    output.on("playback_finished", events.append)
    return events


@pytest.fixture(autouse=True)
def _reported_once(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here fails if any output in it reported a segment's playback twice."""
    caplog.set_level(logging.WARNING)
    yield
    assert [r.getMessage() for r in caplog.get_records("call") if TWICE in r.getMessage()] == []


Instant = tuple[InstantLeaf, PacedAudioOutput, list[io.PlaybackFinishedEvent]]


@pytest.fixture
async def instant(ticker: Ticker) -> AsyncIterator[Instant]:
    """The leaf, the pacer over it, and the playback_finished events the pacer passes up."""
    leaf = InstantLeaf()
    out = PacedAudioOutput(leaf, ticker=ticker, stretch=None)
    yield leaf, out, finished(out)
    await out.aclose()


async def test_a_cut_reply_over_an_instant_leaf_is_one_interrupted_playback(
    clock: VirtualClock,
    instant: Instant,
) -> None:
    leaf, out, up = instant
    await out.capture_frame(frame(ramp(8000)))  # a second of reply, still being produced
    await run_for(clock, 0.3)  # hold 60 ms, then 12 frames of 20 ms reach the leaf
    assert round(leaf.played, 6) == 0.24
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert leaf.reports == [(0.24, False)]  # all it got had played
    assert seen(up) == [(0.24, True)]


async def test_a_flushed_reply_cut_before_its_last_frame_left_is_interrupted(
    clock: VirtualClock,
    instant: Instant,
) -> None:
    leaf, out, up = instant
    await out.capture_frame(frame(ramp(1600)))
    out.flush()  # the whole reply is in the pacer: 200 ms
    await run_for(clock, 0.1)  # five frames out
    out.clear_buffer()
    await run_for(clock, 0.3)
    assert len(leaf.reports) == 1
    assert seen(up) == [(0.1, True)]


async def test_a_clear_after_an_instant_leaf_played_everything_reports_nothing_more(
    clock: VirtualClock,
    instant: Instant,
) -> None:
    leaf, out, up = instant
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    assert seen(up) == [(0.1, False)]
    out.clear_buffer()  # the caller speaks after the reply
    await run_for(clock, 0.1)
    assert len(up) == 1 and leaf.reports == [(0.1, False)]
    # the next reply is a segment of its own, reported once
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    assert seen(up[1:]) == [(0.1, False)]


async def test_a_reply_cut_in_its_hold_never_reaches_an_instant_leaf(
    clock: VirtualClock,
    instant: Instant,
) -> None:
    leaf, out, up = instant
    await out.capture_frame(frame(ramp(160)))
    await run_for(clock, 0.03)
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert leaf.reports == []
    assert seen(up) == [(0.0, True)]


@pytest.fixture
async def room_leaf() -> AsyncIterator[_ParticipantAudioOutput]:
    """RoomIO's own leaf, its track never published: its ``rtc.AudioSource`` runs offline,
    and the subscription it waits for is granted here."""
    leaf = _ParticipantAudioOutput(
        rtc.Room(),
        sample_rate=8000,
        num_channels=1,
        track_publish_options=rtc.TrackPublishOptions(),
    )
    leaf.subscribed.set_result(None)
    leaf._forwarding_task = asyncio.create_task(leaf._forward_audio())
    yield leaf
    await leaf.aclose()


@pytest.mark.parametrize("flushed", [False, True], ids=["producing", "flushed"])
async def test_a_cut_reply_over_roomio_is_one_interrupted_playback(
    clock: VirtualClock,
    ticker: Ticker,
    room_leaf: _ParticipantAudioOutput,
    flushed: bool,
) -> None:
    leaf_events = finished(room_leaf)
    out = PacedAudioOutput(room_leaf, ticker=ticker, stretch=None)
    up = finished(out)
    await out.capture_frame(frame(ramp(4000)))
    if flushed:
        out.flush()
    await run_for(clock, 0.15)  # 60 ms hold, then frames (100 ms ahead above RoomIO)
    assert out.stream is not None and out.stream.current_segment is not None
    handed = out.stream.current_segment.emitted_samples / 8000
    assert handed > 0
    out.clear_buffer()
    await asyncio.wait_for(out.wait_for_playout(), 5.0)
    await run_for(clock, 0.1)
    assert len(leaf_events) == 1 and leaf_events[0].interrupted
    ((position, interrupted),) = seen(up)
    assert interrupted and 0.0 <= position <= handed
    await out.aclose()


Direct = tuple[DirectLeaf, PacedAudioOutput, list[io.PlaybackFinishedEvent]]


@pytest.fixture
async def direct(clock: VirtualClock, ticker: Ticker) -> AsyncIterator[Direct]:
    """A leaf driven from the tick, the pacer over it, and what the pacer passes up."""
    leaf = DirectLeaf(clock)
    out = PacedAudioOutput(leaf, ticker=ticker, stretch=None)
    yield leaf, out, finished(out)
    await out.aclose()


async def test_a_direct_leaf_gets_each_frame_inside_its_tick(
    clock: VirtualClock, direct: Direct
) -> None:
    leaf, out, _ = direct
    await out.capture_frame(frame(ramp(8000)))
    clock.advance(0.3)  # no yield to the loop: no task may stand between tick and leaf
    assert [at for at, _ in leaf.frames] == pytest.approx([1000.06 + 0.02 * i for i in range(13)])
    assert leaf.calls == ["start"]


@pytest.mark.parametrize("flushed", [False, True], ids=["producing", "flushed"])
async def test_a_cut_reply_over_a_direct_leaf_is_one_interrupted_playback_at_its_position(
    clock: VirtualClock, direct: Direct, flushed: bool
) -> None:
    leaf, out, up = direct
    await out.capture_frame(frame(ramp(8000)))
    if flushed:
        out.flush()
    await run_for(clock, 0.3)
    leaf.heard = 960  # the far end has played six frames
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert leaf.calls == ["start", "flush", "clear"]
    assert leaf.reports == [(0.12, True)]
    assert seen(up) == [(0.12, True)]


async def test_a_reply_a_direct_leaf_played_out_is_one_playback_and_a_clear_adds_none(
    clock: VirtualClock, direct: Direct
) -> None:
    leaf, out, up = direct
    await out.capture_frame(frame(ramp(1600)))
    out.flush()
    await run_for(clock, 0.4)
    assert leaf.calls == ["start", "flush"]
    leaf.finish()
    assert seen(up) == [(0.2, False)]
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert len(up) == 1 and leaf.calls == ["start", "flush"]
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    leaf.finish()
    assert seen(up[1:]) == [(0.1, False)]


async def test_a_reply_cut_in_its_hold_never_reaches_a_direct_leaf(
    clock: VirtualClock, direct: Direct
) -> None:
    leaf, out, up = direct
    await out.capture_frame(frame(ramp(160)))
    await run_for(clock, 0.03)
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert leaf.calls == [] and leaf.reports == []
    assert seen(up) == [(0.0, True)]


async def test_a_fully_sent_reply_cleared_before_its_end_was_heard_is_interrupted(
    clock: VirtualClock, direct: Direct
) -> None:
    leaf, out, up = direct
    await out.capture_frame(frame(ramp(1600)))
    out.flush()
    await run_for(clock, 0.4)  # all of it went out; the far end has played half
    leaf.heard = 800
    out.clear_buffer()
    await run_for(clock, 0.1)
    assert seen(up) == [(0.1, True)]
