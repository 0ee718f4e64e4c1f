"""Caller audio into the room: the lag policy that keeps the agent hearing the caller promptly."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from sip.bridge.inbound import InboundSettings, keep_frame, rms_dbfs

SETTINGS = InboundSettings(target_lag_ms=60, max_lag_ms=200, quiet_dbfs=-45)


def level(dbfs: float) -> npt.NDArray[np.int16]:
    """A 20 ms sine whose RMS is ``dbfs``."""
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    wave: npt.NDArray[np.float64] = amplitude * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)
    return wave.astype(np.int16)


def test_rms_dbfs() -> None:
    assert rms_dbfs(level(-20)) == pytest.approx(-20, abs=0.2)
    assert rms_dbfs(np.zeros(160, dtype=np.int16)) == -np.inf
    assert rms_dbfs(np.zeros(0, dtype=np.int16)) == -np.inf


def test_everything_is_kept_while_the_source_is_within_its_target_lag() -> None:
    assert keep_frame(0.0, level(-80), SETTINGS)
    assert keep_frame(0.060, level(-80), SETTINGS)


def test_above_the_target_quiet_frames_go_and_speech_stays() -> None:
    assert not keep_frame(0.1, level(-60), SETTINGS)
    assert keep_frame(0.1, level(-30), SETTINGS)


def test_above_the_bound_everything_goes() -> None:
    assert not keep_frame(0.25, level(-10), SETTINGS)
