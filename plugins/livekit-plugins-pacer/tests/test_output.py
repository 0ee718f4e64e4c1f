"""PacedAudioOutput as an io.AudioOutput decorator, against a leaf that reports like a real one.

The leaf stands in for trunkline's Twilio output (8 kHz, playback reported when told) or
RoomIO's: it counts what it received, reports playback_started on its first frame, and reports
playback_finished when flushed (everything received has played) or cleared (what it played so
far). Time is virtual; ``run_for`` moves it in 10 ms steps and lets the delivery task run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from helpers import DirectLeaf, Leaf, frame, ramp
from livekit import rtc
from livekit.agents import Agent, AgentSession
from livekit.agents.voice import io
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer
from livekit.plugins.pacer import PacedAudioOutput, SegmentStats
from livekit.plugins.pacer._direct import direct_leaf
from livekit.plugins.pacer._output import default_lead_ms
from livekit.plugins.pacer.testing import Ticker, VirtualClock, run_for


@pytest.fixture
def leaf() -> Leaf:
    return Leaf()


Make = Callable[..., PacedAudioOutput]


@pytest.fixture
async def make(ticker: Ticker) -> AsyncIterator[Make]:
    """``PacedAudioOutput(inner, **kwargs)`` on the virtual ticker, closed after the test."""
    made: list[PacedAudioOutput] = []

    def make(inner: io.AudioOutput, **kwargs: Any) -> PacedAudioOutput:
        kwargs.setdefault("ticker", ticker)
        made.append(PacedAudioOutput(inner, **kwargs))
        return made[-1]

    yield make
    for out in made:
        await out.aclose()


@pytest.fixture
def out(leaf: Leaf, make: Make) -> PacedAudioOutput:
    return make(leaf)


@pytest.fixture
def held(leaf: Leaf, make: Make) -> PacedAudioOutput:
    """The start hold alone (no adaptive playout): a stall after 100 ms becomes silence."""
    return make(leaf, stretch=None)


async def test_the_session_sees_the_inner_rate_through_every_decorator(
    out: PacedAudioOutput,
) -> None:
    assert out.sample_rate == 8000
    sync = TranscriptSynchronizer(next_in_chain_audio=out, next_in_chain_text=None)
    assert sync.audio_output.sample_rate == 8000
    await sync.aclose()


async def test_paced_frames_reach_the_leaf_and_its_position_comes_back(
    clock: VirtualClock, out: PacedAudioOutput, leaf: Leaf
) -> None:
    audio = ramp(4000 + 30)
    for i in range(0, len(audio), 1200):  # bursts of 150 ms
        await out.capture_frame(frame(audio[i : i + 1200]))
    out.flush()
    await run_for(clock, 0.3)
    assert leaf.frames and all(f.samples_per_channel == 160 for f in leaf.frames)
    assert all(f.sample_rate == 8000 for f in leaf.frames)
    played = asyncio.ensure_future(out.wait_for_playout())
    await run_for(clock, 0.5)
    assert leaf.calls == ["flush"]
    assert not played.done()  # queued in the pacer or the leaf is not played
    leaf.finish()
    ev = await asyncio.wait_for(played, 1.0)
    # the leaf played 26 frames (with 130 samples of padding); the pushed audio was 4030
    assert ev.playback_position == pytest.approx(4030 / 8000)
    assert not ev.interrupted
    np.testing.assert_array_equal(leaf.pcm()[:4030], audio)


async def test_inserted_silence_is_not_reported_as_heard(
    clock: VirtualClock, held: PacedAudioOutput, leaf: Leaf
) -> None:
    out = held
    await out.capture_frame(frame(ramp(800)))
    await run_for(clock, 0.3)  # 100 ms plays, then ~140 ms of silence
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    assert leaf.received > 0.3
    leaf.finish()
    ev = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert ev.playback_position == pytest.approx(0.2)
    assert out.stream is not None and out.stream.stats.underrun_ms > 100


async def test_barge_in_cuts_at_once_and_reports_what_the_leaf_played(
    clock: VirtualClock, out: PacedAudioOutput, leaf: Leaf
) -> None:
    await out.capture_frame(frame(ramp(8000)))
    await run_for(clock, 0.3)  # hold 60 ms, then 12 frames (240 ms)
    handed = len(leaf.frames)
    leaf.played = 0.2  # the far end had played 200 ms of it
    out.clear_buffer()
    await run_for(clock, 0.02)
    assert leaf.calls == ["flush", "clear"]  # the leaf's segment is closed, then cut
    ev = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert ev.interrupted and ev.playback_position == pytest.approx(0.2)
    await run_for(clock, 0.5)
    assert len(leaf.frames) == handed
    # the rest of the cut segment never plays, even if the producer keeps capturing
    await out.capture_frame(frame(ramp(800)))
    await run_for(clock, 0.3)
    assert len(leaf.frames) == handed


async def test_barge_in_during_the_hold_reports_nothing_played(
    clock: VirtualClock, out: PacedAudioOutput, leaf: Leaf
) -> None:
    await out.capture_frame(frame(ramp(800)))
    await run_for(clock, 0.03)
    out.clear_buffer()
    ev = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert ev.interrupted and ev.playback_position == 0.0
    await run_for(clock, 0.3)
    assert leaf.frames == [] and leaf.calls == []  # it holds nothing of the reply to clear


async def test_segments_report_in_order_and_the_next_one_plays_after_a_cut(
    clock: VirtualClock, out: PacedAudioOutput, leaf: Leaf
) -> None:
    await out.capture_frame(frame(ramp(1600)))
    out.flush()
    await run_for(clock, 0.4)
    leaf.finish()
    first = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert first.playback_position == pytest.approx(0.2)
    await out.capture_frame(frame(ramp(1600)))
    out.flush()
    await run_for(clock, 0.4)
    leaf.finish()
    second = await asyncio.wait_for(out.wait_for_playout(), 1.0)
    assert second.playback_position == pytest.approx(0.2) and not second.interrupted
    assert leaf.calls == ["flush", "flush"]


async def test_progress_is_mapped_past_inserted_silence(
    clock: VirtualClock, held: PacedAudioOutput, leaf: Leaf
) -> None:
    out = held
    seen: list[io.PlaybackProgressedEvent] = []
    out.on("playback_progressed", seen.append)
    await out.capture_frame(frame(ramp(800)))
    await run_for(clock, 0.2)  # 100 ms of audio, then silence frames
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    # the leaf reports its first 300 ms as one played stretch starting at t=50
    leaf.on_playback_progressed(started_at=50.0, offset=0.0, duration=0.3)
    assert len(seen) == 2
    assert (seen[0].started_at, seen[0].offset, seen[0].duration) == (50.0, 0.0, 0.1)
    gap = leaf.frames.index(next(f for f in leaf.frames[5:] if np.frombuffer(f.data, np.int16)[0]))
    assert seen[1].offset == pytest.approx(0.1)
    assert seen[1].started_at == pytest.approx(50.0 + gap * 0.02)
    assert seen[1].duration == pytest.approx(0.1)  # all of the second capture


async def test_frames_at_another_rate_are_resampled(
    clock: VirtualClock, leaf: Leaf, make: Make
) -> None:
    out = make(leaf)
    t = np.arange(24000) / 24000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    for i in range(0, 24000, 2400):
        await out.capture_frame(frame(tone[i : i + 2400], rate=24000))
    out.flush()
    await run_for(clock, 1.2)
    assert {(f.sample_rate, f.samples_per_channel) for f in leaf.frames} == {(8000, 160)}
    assert abs(leaf.received - 1.0) < 0.03


async def test_an_any_rate_leaf_gets_the_model_rate(clock: VirtualClock, make: Make) -> None:
    leaf = Leaf(sample_rate=None)
    out = make(leaf)
    assert out.sample_rate is None
    await out.capture_frame(frame(ramp(4800), rate=24000))
    out.flush()
    await run_for(clock, 0.3)
    assert {(f.sample_rate, f.samples_per_channel) for f in leaf.frames} == {(24000, 480)}


async def test_lead_defaults_to_room_lead_only_above_roomio(make: Make) -> None:
    room = Leaf(label="RoomIO")
    assert default_lead_ms(room) == PacedAudioOutput.ROOM_LEAD_MS == 100
    wrapped = TranscriptSynchronizer(next_in_chain_audio=room, next_in_chain_text=None)
    assert make(wrapped.audio_output).lead_ms == PacedAudioOutput.ROOM_LEAD_MS == 100
    assert make(Leaf()).lead_ms == 0
    assert make(room, lead_ms=40).lead_ms == 40
    await wrapped.aclose()


async def test_pause_stops_frames_and_reaches_the_leaf(
    clock: VirtualClock, out: PacedAudioOutput, leaf: Leaf
) -> None:
    await out.capture_frame(frame(ramp(1600)))
    out.flush()
    await run_for(clock, 0.1)
    out.pause()
    n = len(leaf.frames)
    await run_for(clock, 0.5)
    assert len(leaf.frames) == n
    out.resume()
    await run_for(clock, 0.3)
    assert len(leaf.frames) == 10
    assert leaf.calls == ["pause", "resume", "flush"]
    assert out.stream is not None and out.stream.stats.underruns == 0


async def test_stereo_is_refused(out: PacedAudioOutput) -> None:
    with pytest.raises(ValueError, match="mono"):
        await out.capture_frame(rtc.AudioFrame(b"\x00" * 640, 8000, 2, 160))


async def test_segment_stats_reach_the_callback(
    clock: VirtualClock, leaf: Leaf, make: Make
) -> None:
    seen: list[SegmentStats] = []
    out = make(leaf, on_segment=seen.append)
    await out.capture_frame(frame(ramp(800)))
    out.flush()
    await run_for(clock, 0.3)
    assert len(seen) == 1 and seen[0].emitted_samples == 800
    assert seen[0].first_frame_at is not None


async def test_in_a_real_agent_session(leaf: Leaf) -> None:
    """AgentSession resamples the 24 kHz reply to the leaf's 8 kHz before the pacer frames it;
    an interruption truncates the reply where the leaf stopped."""
    session: AgentSession[None] = AgentSession()
    session.output.audio = out = PacedAudioOutput(leaf)
    await session.start(Agent(instructions="test"), record=False)

    async def reply(seconds: float) -> AsyncIterator[rtc.AudioFrame]:
        for _ in range(int(seconds * 10)):
            yield frame(np.full(2400, 1000, dtype=np.int16), rate=24000)

    async def finish_when_flushed() -> None:
        await leaf.flushed.wait()
        leaf.finish()

    finisher = asyncio.create_task(finish_when_flushed())
    await asyncio.wait_for(session.say("hello", audio=reply(0.3)), 5.0)
    await finisher
    assert {(f.sample_rate, f.samples_per_channel) for f in leaf.frames} == {(8000, 160)}
    assert abs(sum(f.duration for f in leaf.frames) - 0.3) < 0.03

    leaf.frames.clear()
    leaf.busy.clear()
    handle = session.say("a long reply", audio=reply(3.0))
    await asyncio.wait_for(leaf.busy.wait(), 5.0)
    handle.interrupt()
    await asyncio.wait_for(handle, 5.0)
    assert "clear" in leaf.calls
    assert len(leaf.frames) < 100
    await session.aclose()
    await out.aclose()


class SlowLeaf(Leaf):
    """A leaf whose ``capture_frame`` can be held up, like a busy delivery path."""

    def __init__(self) -> None:
        super().__init__()
        self.open_gate = asyncio.Event()
        self.open_gate.set()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await self.open_gate.wait()
        await super().capture_frame(frame)


async def test_late_gaps_are_counted_where_frames_reach_the_inner_output(
    clock: VirtualClock, make: Make
) -> None:
    leaf = SlowLeaf()
    seen: list[SegmentStats] = []
    out = make(leaf, stretch=None, on_segment=seen.append)
    await out.capture_frame(frame(ramp(8000)))
    out.flush()  # starts at once; one frame every 20 ms, no lead
    await run_for(clock, 0.1)
    leaf.open_gate.clear()  # the delivery path stalls for 200 ms: the pacer keeps sending
    await run_for(clock, 0.2)
    assert out.stream is not None and out.stream.current_segment is not None
    assert out.stream.current_segment.late_gaps == 0  # the pacer itself was on time
    leaf.open_gate.set()
    await run_for(clock, 1.0)
    assert len(seen) == 1  # reported once its last frame was handed over
    # handed over until .10 (playing until .12), then nothing until .30: one 180 ms gap
    assert seen[0].late_gaps == 1 and seen[0].late_gap_ms == pytest.approx(180.0)


async def test_finished_segments_are_reported_before_a_cut_one(
    clock: VirtualClock, leaf: Leaf, make: Make
) -> None:
    seen: list[SegmentStats] = []
    out = make(leaf, stretch=None, on_segment=seen.append)
    await out.capture_frame(frame(ramp(160)))
    out.flush()
    await out.capture_frame(frame(ramp(1600)))
    # the first segment's only frame has left the pacer, not yet reached the leaf
    assert seen == []
    out.clear_buffer()
    assert [(s.index, s.interrupted) for s in seen] == [(0, False), (1, True)]
    await run_for(clock, 0.1)
    assert len(seen) == 2


async def test_a_direct_leaf_is_driven_directly_only_through_the_swap_proxy(
    clock: VirtualClock, make: Make
) -> None:
    """Behind livekit-agents' swap proxy (which only forwards) the leaf takes frames from the
    tick; behind any other decorator they go through ``capture_frame``, or the decorator would
    be bypassed."""
    leaf = DirectLeaf(clock)
    out = make(leaf)
    assert direct_leaf(out.next_in_chain) is leaf
    wrapped = TranscriptSynchronizer(next_in_chain_audio=DirectLeaf(clock), next_in_chain_text=None)
    assert direct_leaf(wrapped.audio_output) is None
    assert direct_leaf(Leaf()) is None
    await wrapped.aclose()
