"""The synthetic speech: deterministic, wideband, speech-shaped."""

from __future__ import annotations

import numpy as np
import pytest

from lab.bandwidth import welch_bandwidth
from lab.runs import runs
from lab.synth import speech_like


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    assert np.array_equal(speech_like(1.0, seed=3), speech_like(1.0, seed=3))
    assert not np.array_equal(speech_like(1.0, seed=3), speech_like(1.0, seed=4))


def test_length_level_and_pauses() -> None:
    x = speech_like(4.0, 24000, noise_dbfs=None)
    assert 4.0 <= len(x) / 24000 < 4.8
    assert np.max(np.abs(x)) == pytest.approx(0.5)
    assert len(runs(x == 0.0, 2400)) >= 3  # lead-in, pauses of ≥ 100 ms, tail


def test_wideband_at_24k_and_bounded_by_nyquist_at_16k() -> None:
    assert welch_bandwidth(speech_like(4.0, 24000), 24000) > 9000
    assert welch_bandwidth(speech_like(4.0, 16000), 16000) < 8000


def test_noise_floor_fills_the_pauses() -> None:
    x = speech_like(2.0, 24000, noise_dbfs=-70)
    assert not runs(x == 0.0, 10)
    quiet = x[:2000]  # the 100 ms lead-in
    assert 20 * np.log10(np.std(quiet)) == pytest.approx(-70, abs=1)
