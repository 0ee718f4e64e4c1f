"""Mapping a sink's played position back to the model's audio, past inserted silence and
padding, and through stretched frames."""

from __future__ import annotations

from livekit.plugins.pacer._timeline import Run, Timeline


def timeline() -> Timeline:
    t = Timeline(8000)
    t.add_frame(160, 160, 160)  # content 0..160
    t.add_frame(160, 160, 160)  # content 160..320, contiguous with the first
    t.add_frame(160, 50, 50)  # starved: 50 content, 110 silence
    t.add_frame(160, 0, 0)  # silence
    t.add_frame(160, 160, 160)  # content 370..530
    t.add_frame(160, 30, 30)  # last partial, padded
    return t


def test_contiguous_frames_merge_into_one_run() -> None:
    t = timeline()
    assert t.runs == [Run(0, 0, 370, 370), Run(640, 370, 190, 190)]
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
    assert t.runs_within(300, 400) == [Run(0, 300, 70, 70), Run(340, 370, 60, 60)]
    assert t.runs_within(400, 200) == []


def stretched() -> Timeline:
    t = Timeline(8000)
    t.add_frame(160, 160, 144)  # played at 0.9×: 160 samples heard stand for 144 of the model's
    t.add_frame(160, 160, 144)
    t.add_frame(160, 160, 160)  # back at 1.0×
    t.add_frame(160, 160, 176)  # catching up at 1.1×
    return t


def test_stretched_frames_are_their_own_runs() -> None:
    t = stretched()
    assert t.runs == [
        Run(0, 0, 160, 144),
        Run(160, 144, 160, 144),
        Run(320, 288, 160, 160),
        Run(480, 448, 160, 176),
    ]
    assert (t.sent, t.content) == (640, 624)


def test_a_position_inside_stretched_audio_is_in_model_time_rounded_down() -> None:
    t = stretched()
    assert t.content_before(160) == 144
    assert t.content_before(80) == 72  # halfway through a 0.9× frame: half its 144
    assert t.content_before(81) == 72  # 72.9: the 73rd model sample has not finished playing
    assert t.content_before(400) == 288 + 80
    assert t.content_before(560) == 448 + 88
    assert t.content_before(640) == 624


def test_progress_through_stretched_audio_reports_model_offsets_and_durations() -> None:
    t = stretched()
    assert t.runs_within(80, 160) == [Run(0, 72, 80, 72), Run(80, 144, 80, 72)]
