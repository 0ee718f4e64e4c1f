"""Gaps: injected underruns are found with their times; real pauses are not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lab.codecs import ulaw_roundtrip
from lab.gaps import find_gaps
from lab.pcm import FloatArray, as_float, to_int16
from lab.runs import Span

RATE = 24000


def insert(x: FloatArray, at_s: float, seconds: float) -> FloatArray:
    i = round(at_s * RATE)
    return np.concatenate([x[:i], np.zeros(round(seconds * RATE)), x[i:]])


def test_a_clean_copy_with_lead_in_and_tail_has_no_gaps(clean_speech: FloatArray) -> None:
    # The speech has digital-silence pauses of its own (50–250 ms); none may count.
    received = np.concatenate([np.zeros(2400), clean_speech, np.zeros(4800)])
    assert find_gaps(received, clean_speech, RATE) == []


def test_inserted_and_replaced_silence_inside_speech_is_found(clean_speech: FloatArray) -> None:
    received = np.concatenate([np.zeros(2400), clean_speech])  # 100 ms transport delay
    received = insert(received, 2.5, 0.050)  # underrun: silence inserted, nothing lost
    received = insert(received, 1.3, 0.030)
    received[round(2.2 * RATE) : round(2.22 * RATE)] = 0.0  # audio replaced by silence
    gaps = find_gaps(received, clean_speech, RATE)
    assert gaps == [
        Span(start_s=1.3, duration_s=0.03),
        Span(start_s=2.2, duration_s=0.02),
        Span(start_s=2.53, duration_s=0.05),  # shifted by the 30 ms before it
    ]


def test_runs_shorter_than_10_ms_are_not_gaps(clean_speech: FloatArray) -> None:
    assert find_gaps(insert(clean_speech, 1.3, 0.008), clean_speech, RATE) == []
    assert len(find_gaps(insert(clean_speech, 1.3, 0.010), clean_speech, RATE)) == 1


def test_silence_added_inside_a_real_pause_is_not_a_gap(clean_speech: FloatArray) -> None:
    # 0.65–0.90 s is one of the synthetic speech's own digital-silence pauses.
    assert not clean_speech[round(0.66 * RATE) : round(0.89 * RATE)].any()
    assert find_gaps(insert(clean_speech, 0.75, 0.04), clean_speech, RATE) == []


def test_gaps_survive_mu_law_when_the_reference_takes_the_same_leg(
    noisy_speech: FloatArray,
) -> None:
    sent = ulaw_roundtrip(to_int16(noisy_speech), RATE)
    received = as_float(sent)
    i = round(1.3 * 8000)
    received = np.concatenate([received[:i], np.zeros(240), received[i:]])
    assert find_gaps(received, sent, 8000) == [Span(start_s=1.3, duration_s=0.03)]
    assert find_gaps(sent, sent, 8000) == []


def test_many_gaps_keep_their_alignment(clean_speech: FloatArray) -> None:
    # Twelve 20 ms underruns add up to 240 ms of drift; each is still located.
    received = clean_speech
    starts = [0.2, 0.35, 0.45, 1.05, 1.2, 1.4, 1.55, 2.05, 2.3, 2.5, 2.7, 3.3]
    for at in reversed(starts):
        received = insert(received, at, 0.02)
    found = find_gaps(received, clean_speech, RATE)
    shifted = [at + 0.02 * k for k, at in enumerate(starts)]
    assert [g.start_s for g in found] == pytest.approx(shifted)


def _speech_positions(clean: FloatArray, margin_s: float) -> list[float]:
    """Times (s) at least ``margin_s`` away from any digital silence of the sent signal."""
    from lab.runs import runs

    silent = np.zeros(len(clean), dtype=bool)
    m = round(margin_s * RATE)
    for start, end in runs(clean == 0.0):
        silent[max(start - m, 0) : end + m] = True
    return [i / RATE for i in range(0, len(clean), RATE // 100) if not silent[i]]


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_any_underruns_inside_speech_are_found_exactly(
    clean_speech: FloatArray, data: st.DataObject
) -> None:
    candidates = _speech_positions(clean_speech, margin_s=0.03)
    picks = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=5, unique=True))
    picks = sorted(picks)
    assume(all(b - a >= 0.05 for a, b in itertools.pairwise(picks)))
    lengths = data.draw(st.lists(st.integers(10, 80), min_size=len(picks), max_size=len(picks)))
    received = clean_speech
    for at, ms in reversed(list(zip(picks, lengths, strict=True))):
        received = insert(received, at, ms / 1000)
    expected: list[float] = []
    shift = 0.0
    for at, ms in zip(picks, lengths, strict=True):
        expected += [at + shift, ms / 1000]
        shift += ms / 1000
    found = [v for g in find_gaps(received, clean_speech, RATE) for v in (g.start_s, g.duration_s)]
    assert found == pytest.approx(expected, abs=1 / RATE)
