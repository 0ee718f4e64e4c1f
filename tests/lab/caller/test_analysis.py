"""What the caller report says about the audio a simulated caller heard."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from lab.caller.analysis import audio_figures
from lab.caller.results import CadenceStats, CallResult, TurnResult
from sip import g711

RATE = 8000


def turn(n: int, gaps: int) -> TurnResult:
    return TurnResult(n, None, None, None, None, None, None, 0.0, gaps, 0.0)


def call(heard: np.ndarray, turns: list[TurnResult], greeting: TurnResult | None) -> CallResult:
    cadence = CadenceStats(0, None, None, None, None, None)
    return CallResult("CA1", 0.0, 1.0, greeting, turns, cadence, 0, 0, "caller", 1000, heard)


def band_limited_noise(low_hz: float, high_hz: float, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    sos = signal.butter(8, [low_hz, high_hz], btype="bandpass", fs=RATE, output="sos")
    x = np.asarray(signal.sosfilt(sos, rng.standard_normal(int(seconds * RATE))), np.float64)
    pcm: np.ndarray = np.round(x / np.abs(x).max() * 12000).astype(np.int16)
    return pcm


def test_bandwidth_tracks_the_band_the_caller_heard_and_gaps_add_up() -> None:
    narrow = g711.decode(g711.encode(band_limited_noise(300, 1500, 4.0)))
    wide = g711.decode(g711.encode(band_limited_noise(300, 3400, 4.0)))
    figures_narrow = audio_figures(call(narrow, [turn(1, 2), turn(2, 1)], turn(0, 1)))
    figures_wide = audio_figures(call(wide, [turn(1, 0)], None))
    assert figures_narrow["heard_seconds"] == 4.0
    assert figures_narrow["playout_gaps"] == 4 and figures_wide["playout_gaps"] == 0
    narrow_hz, wide_hz = (
        figures_narrow["bandwidth_99_welch_hz"],
        figures_wide["bandwidth_99_welch_hz"],
    )
    assert isinstance(narrow_hz, int) and isinstance(wide_hz, int)
    assert 1400 <= narrow_hz <= 2200
    assert 3200 <= wide_hz <= 4000
    assert "clicks_per_minute" not in figures_wide  # meaningless without a reference


def test_silence_has_no_bandwidth() -> None:
    figures = audio_figures(call(np.zeros(RATE, dtype=np.int16), [], None))
    assert figures["bandwidth_99_welch_hz"] is None
    assert figures["heard_seconds"] == pytest.approx(1.0)
