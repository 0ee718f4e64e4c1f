"""PESQ and STOI sanity: identity at the ceiling, degradation lowers both."""

from __future__ import annotations

import numpy as np
import pytest

from lab.pcm import FloatArray
from lab.quality import pesq_score, stoi_score


def test_identity_scores_the_ceiling(noisy_speech: FloatArray) -> None:
    assert pesq_score(noisy_speech, noisy_speech, 24000, "nb") == pytest.approx(4.55, abs=0.02)
    assert pesq_score(noisy_speech, noisy_speech, 24000, "wb") == pytest.approx(4.64, abs=0.02)
    assert stoi_score(noisy_speech, noisy_speech, 24000) == pytest.approx(1.0, abs=1e-6)


def test_more_noise_scores_lower(noisy_speech: FloatArray) -> None:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(len(noisy_speech))
    scores = []
    for snr_db in (30, 15, 0):
        scale = np.std(noisy_speech) * 10 ** (-snr_db / 20)
        deg = noisy_speech + scale * noise
        scores.append(
            (pesq_score(noisy_speech, deg, 24000, "wb"), stoi_score(noisy_speech, deg, 24000))
        )
    pesq_wb = [p for p, _ in scores]
    stoi = [s for _, s in scores]
    assert pesq_wb == sorted(pesq_wb, reverse=True) and pesq_wb[-1] < 2.0
    assert stoi == sorted(stoi, reverse=True) and stoi[0] < 1.0


def test_silence_and_mismatched_lengths_are_clear_errors(noisy_speech: FloatArray) -> None:
    with pytest.raises(ValueError, match="silence"):
        pesq_score(noisy_speech, np.zeros_like(noisy_speech), 24000, "nb")
    with pytest.raises(ValueError, match="equal length"):
        stoi_score(noisy_speech, noisy_speech[:-10], 24000)
