"""The unpaced output (``TRUNKLINE_PACER=off``): audio passes untouched, each reply's first frame
is stamped, and the turn's waterfall gets a model stage and a zero pacing stage."""

from __future__ import annotations

import time

import pytest
from livekit.agents.voice.events import UserStateChangedEvent

from agent.first_audio import FirstAudioStamp
from agent.turn_metrics import TurnMetrics

from .test_clear_signal import Leaf, frame


async def test_frames_pass_through_and_each_segment_s_first_frame_is_stamped() -> None:
    leaf = Leaf()
    stamps: list[float] = []
    out = FirstAudioStamp(leaf, stamps.append)
    assert out.sample_rate == 8000
    before = time.time()
    for _ in range(3):
        await out.capture_frame(frame())
    out.flush()
    finished = await out.wait_for_playout()
    assert len(leaf.frames) == 3 and leaf.events == ["flush"]
    assert finished.playback_position == pytest.approx(0.06)
    assert len(stamps) == 1 and stamps[0] >= before
    await out.capture_frame(frame())  # the next reply
    out.clear_buffer()
    assert len(stamps) == 2 and leaf.events == ["flush", "clear"]


def test_an_unpaced_reply_gets_a_model_stage_and_zero_pacing() -> None:
    metrics = TurnMetrics("call", "webrtc", writer=None, playback_is_at_caller=False)
    t0 = 1_795_000_000.0
    metrics.on_unpaced_audio(t0)  # the greeting, turn 0
    detected = UserStateChangedEvent(old_state="speaking", new_state="listening", created_at=t0 + 9)
    metrics._on_user_state(detected)
    metrics.on_unpaced_audio(t0 + 10)
    metrics.on_unpaced_audio(t0 + 11)  # a later segment of the same turn: not its first audio
    metrics.close()
    greeting, turn = metrics.records
    assert (greeting.turn, greeting.model_first_audio, greeting.pacer_first_frame) == (0, t0, t0)
    assert turn.turn == 1 and turn.pacer == {}
    assert turn.stage_durations() == {
        "turn_detection": None,
        "model": pytest.approx(1.0),
        "pacing": 0.0,
        "transport": None,
    }
