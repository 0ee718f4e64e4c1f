"""Clicks: single-sample spikes and gap edges are found where they are; smooth signals are not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lab.clicks import click_times, clicks_per_minute
from lab.pcm import FloatArray
from tests.lab.conftest import tone


@pytest.mark.parametrize(("freq", "rate"), [(200, 8000), (440, 24000), (3000, 48000)])
def test_a_clean_tone_has_no_clicks(freq: float, rate: int) -> None:
    assert len(click_times(tone(freq, rate, 2.0), rate)) == 0


def test_a_single_sample_click_is_found_at_its_time() -> None:
    x = tone(440, 24000, 2.0)
    x[12000] += 0.05
    assert click_times(x, 24000) == pytest.approx([0.5], abs=0.0002)


def test_a_gap_in_a_tone_is_a_click_event_at_its_edge() -> None:
    x = tone(440, 24000, 2.0)
    x[24000:24480] = 0.0  # 20 ms of silence: the edges are < 20 ms apart, one event
    assert click_times(x, 24000) == pytest.approx([1.0], abs=0.0002)
    x[36000:37200] = 0.0  # 50 ms: an event at each edge
    assert click_times(x, 24000)[1:] == pytest.approx([1.5, 1.55], abs=0.0002)


def test_injected_clicks_in_speech_are_found_on_top_of_its_baseline(
    noisy_speech: FloatArray,
) -> None:
    rate = 24000
    baseline = set(np.round(click_times(noisy_speech, rate), 2))
    x = noisy_speech.copy()
    at = [0.3, 1.25, 2.1, 2.45, 3.85]  # all inside syllables
    for t in at:
        x[round(t * rate)] += 0.1
    found = set(np.round(click_times(x, rate), 2))
    assert found - baseline == set(at)


def test_rate_is_per_minute_of_signal() -> None:
    x = tone(440, 8000, 6.0)
    x[[8000, 24000, 40000]] += 0.2
    assert clicks_per_minute(x, 8000) == pytest.approx(30.0)
    with pytest.raises(ValueError):
        clicks_per_minute(np.zeros(0), 8000)


@settings(max_examples=30, deadline=None)
@given(
    freq=st.floats(100, 3000),
    at=st.lists(st.integers(400, 15600), min_size=1, max_size=4, unique=True),
    k=st.floats(10, 200),
)
def test_clicks_well_above_the_local_scale_are_found_exactly(
    freq: float, at: list[int], k: float
) -> None:
    # A tone's third difference peaks at A·(2·sin(πf/fs))³; a click k times that stands out
    # (a small click on a loud high tone hides in the tone's own steps, by design).
    at = sorted(at)
    assume(all(b - a >= 400 for a, b in itertools.pairwise(at)))  # 25 ms apart at 16 kHz
    x = tone(freq, 16000, 1.0)
    x[at] += k * 0.3 * (2 * np.sin(np.pi * freq / 16000)) ** 3
    assert click_times(x, 16000) == pytest.approx([i / 16000 for i in at], abs=2 / 16000)
