"""The browser test's judges (playout.py) on audio whose faults are known: the checks must find
a hole that is there, and must not call the speech's own pauses holes."""

from __future__ import annotations

import numpy as np
import pytest

from agent.sim.tts import SAMPLE_RATE, synthesize
from lab.pcm import FloatArray
from tests.web import playout
from trunkline.resample import resample

RATE = 48000


@pytest.fixture(scope="module")
def reply() -> FloatArray:
    """A simulator reply (espeak-ng, with pauses of its own) at the page's rate."""
    pcm = synthesize("I heard you, but I am a scripted simulator. Please go on.").pcm
    return playout.trimmed(resample(pcm, SAMPLE_RATE, RATE), RATE)


def loud_point(x: FloatArray, after_s: float) -> int:
    """A sample index after ``after_s`` where 100 ms of speech is loud throughout."""
    db = playout.levels(x, RATE)
    frames = round(0.1 / playout.FRAME_S)
    for i in range(round(after_s / playout.FRAME_S), len(db) - frames):
        if np.all(db[i : i + frames] > -30):
            return round((i + frames // 4) * playout.FRAME_S * RATE)
    raise AssertionError("no loud stretch")


def test_the_same_audio_has_no_holes_and_matches_itself(reply: FloatArray) -> None:
    assert playout.find_holes(reply, reply, RATE) == []
    assert playout.envelope_correlation(reply, reply, RATE) == pytest.approx(1.0)
    assert playout.audible_s(reply, RATE) > 2.0


def test_a_natural_pause_is_not_a_hole_even_after_a_delay(reply: FloatArray) -> None:
    delayed = np.concatenate([np.zeros(RATE // 8), reply * 0.7])  # later and quieter
    played = playout.trimmed(delayed, RATE)
    assert playout.find_holes(played, reply, RATE) == []
    assert playout.envelope_correlation(played, reply, RATE) > 0.95


def test_speech_replaced_by_silence_is_a_hole(reply: FloatArray) -> None:
    at = loud_point(reply, 1.0)
    played = reply.copy()
    played[at : at + RATE * 40 // 1000] = 0.0
    (hole,) = playout.find_holes(played, reply, RATE)
    assert hole.start_s == pytest.approx(at / RATE, abs=0.01)
    assert hole.duration_s == pytest.approx(0.04, abs=0.011)


def test_inserted_silence_is_one_hole_and_does_not_misplace_later_pauses(
    reply: FloatArray,
) -> None:
    at = loud_point(reply, 0.5)
    played = np.concatenate([reply[:at], np.zeros(RATE * 60 // 1000), reply[at:]])
    (hole,) = playout.find_holes(played, reply, RATE)
    assert hole.start_s == pytest.approx(at / RATE, abs=0.01)
    assert hole.duration_s == pytest.approx(0.06, abs=0.011)


def test_a_hole_shorter_than_one_opus_frame_is_not_counted(reply: FloatArray) -> None:
    at = loud_point(reply, 1.0)
    played = reply.copy()
    played[at : at + RATE * 10 // 1000] = 0.0
    assert playout.find_holes(played, reply, RATE) == []


def test_a_telephone_band_path_loses_everything_above_4_khz(reply: FloatArray) -> None:
    phone = resample(resample((reply * 32767).astype(np.int16), RATE, 8000), 8000, RATE)
    assert playout.band_share_db(reply, RATE, 4000, 8000) > -30
    assert playout.band_share_db(phone, RATE, 4000, 8000) < -60
    assert playout.band_share_db(reply, RATE, 100, 4000) > -1


def test_audible_spans_bridge_short_pauses_only() -> None:
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)
    quiet = np.zeros(RATE // 5)
    x = np.concatenate([quiet, tone, quiet, tone, np.zeros(RATE), tone])
    spans = playout.audible_spans(x, RATE, bridge_s=0.5)
    assert [(round(a, 2), round(b, 2)) for a, b in spans] == [(0.2, 1.4), (2.4, 2.9)]
