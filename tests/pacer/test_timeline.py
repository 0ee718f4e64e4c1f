"""Mapping a sink's played position back to pushed audio, past inserted silence and padding."""

from __future__ import annotations

from livekit.plugins.pacer.timeline import Run, Timeline


def timeline() -> Timeline:
    t = Timeline(8000)
    t.add_frame(160, 160)  # content 0..160
    t.add_frame(160, 160)  # content 160..320, contiguous with the first
    t.add_frame(160, 50)  # starved: 50 content, 110 silence
    t.add_frame(160, 0)  # silence
    t.add_frame(160, 160)  # content 370..530
    t.add_frame(160, 30)  # last partial, padded
    return t


def test_contiguous_frames_merge_into_one_run() -> None:
    t = timeline()
    assert t.runs == [Run(0, 0, 370), Run(640, 370, 190)]
    assert (t.sent, t.content) == (960, 560)


def test_position_skips_silence_and_padding() -> None:
    t = timeline()
    assert t.content_before(0) == 0
    assert t.content_before(300) == 300
    assert t.content_before(500) == 370  # inside the silence
    assert t.content_before(700) == 430
    assert t.content_before(960) == 560  # everything, padding not counted
    assert t.content_before(10_000) == 560
    assert t.content_seconds(0.0625) == 370 / 8000


def test_a_played_stretch_splits_at_silence() -> None:
    t = timeline()
    assert t.runs_within(300, 400) == [Run(0, 300, 70), Run(340, 370, 60)]
    assert t.runs_within(400, 200) == []
