"""The clear signal decorator: everything passes through, and a clear is announced."""

from __future__ import annotations

import pytest
from livekit import rtc
from livekit.agents.voice import io

from agent.clear_signal import ClearSignalOutput


class Leaf(io.AudioOutput):
    """A sink that keeps what it gets and reports each segment played in full on flush."""

    def __init__(self) -> None:
        super().__init__(
            label="Leaf", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=8000
        )
        self.frames: list[rtc.AudioFrame] = []
        self.events: list[str] = []

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self.frames.append(frame)

    def flush(self) -> None:
        super().flush()
        self.events.append("flush")
        played = sum(f.duration for f in self.frames)
        self.on_playback_finished(playback_position=played, interrupted=False)

    def clear_buffer(self) -> None:
        self.events.append("clear")


def frame(ms: int = 20) -> rtc.AudioFrame:
    samples = 8 * ms
    return rtc.AudioFrame(bytes(2 * samples), 8000, 1, samples)


async def test_frames_flushes_and_playback_reports_pass_through() -> None:
    leaf = Leaf()
    clears: list[str] = []
    out = ClearSignalOutput(leaf, lambda: clears.append("clear"))
    assert out.sample_rate == 8000
    await out.capture_frame(frame())
    await out.capture_frame(frame())
    out.flush()
    finished = await out.wait_for_playout()
    assert len(leaf.frames) == 2 and leaf.events == ["flush"]
    assert finished.playback_position == pytest.approx(0.04) and not finished.interrupted
    assert clears == []


async def test_a_clear_reaches_the_sink_first_and_is_then_announced() -> None:
    leaf = Leaf()
    order: list[str] = []
    out = ClearSignalOutput(leaf, lambda: order.append(f"announced after {leaf.events}"))
    await out.capture_frame(frame())
    out.clear_buffer()
    assert order == ["announced after ['clear']"]
