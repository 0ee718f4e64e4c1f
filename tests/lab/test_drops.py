"""Energy drops: deep fades where the sender was active, nothing else."""

from __future__ import annotations

import numpy as np

from lab.drops import energy_drops
from lab.runs import Span
from tests.lab.conftest import tone, white


def test_a_deep_fade_in_speech_is_one_drop_at_its_place() -> None:
    sent = tone(440, 16000, 2.0)
    received = sent.copy()
    received[16000:16960] *= 1e-3  # −60 dB for 60 ms, frame aligned
    assert energy_drops(sent, received, 16000) == [Span(start_s=1.0, duration_s=0.06)]


def test_a_shallow_fade_is_not_a_drop() -> None:
    sent = tone(440, 16000, 2.0)
    received = sent * 0.1  # −20 dB everywhere
    assert energy_drops(sent, received, 16000) == []


def test_silence_where_the_sender_paused_is_not_a_drop() -> None:
    rate = 16000
    sent = np.concatenate([tone(440, rate, 1.0), white(rate, 1.0, dbfs=-70), tone(440, rate, 1.0)])
    received = sent.copy()
    received[rate : 2 * rate] = 0.0
    assert energy_drops(sent, received, rate) == []


def test_lengths_may_differ_by_a_tail() -> None:
    sent = tone(440, 8000, 1.0)
    assert energy_drops(sent, sent[:7000], 8000) == []
