"""Known signals shared by the lab's metric tests."""

from __future__ import annotations

import numpy as np
import pytest

from lab.pcm import FloatArray, frame_levels_db
from lab.synth import speech_like


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.3) -> FloatArray:
    t = np.arange(round(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def white(rate: int, seconds: float, dbfs: float = -20.0, seed: int = 0) -> FloatArray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(round(rate * seconds)) * 10 ** (dbfs / 20)


def level_db(x: FloatArray) -> float:
    """Mean-square level of a whole signal in dBFS (one frame spanning all of it)."""
    return float(frame_levels_db(x, len(x))[0])


@pytest.fixture(scope="session")
def clean_speech() -> FloatArray:
    """24 kHz speech-like signal whose pauses are digital silence."""
    return speech_like(4.0, 24000, seed=0, noise_dbfs=None)


@pytest.fixture(scope="session")
def noisy_speech() -> FloatArray:
    """24 kHz speech-like signal over a −70 dBFS noise floor, like a recording."""
    return speech_like(4.0, 24000, seed=0)
