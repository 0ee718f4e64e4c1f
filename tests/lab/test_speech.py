"""Speech material: any file PyAV decodes, downmixed to mono at its own rate."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from lab.speech import bundled_speech_files, load_speech, synthetic_speech


def test_bundled_clips_load_as_16k_mono() -> None:
    files = bundled_speech_files()
    assert [f.name for f in files] == ["arctic_a0007.wav", "arctic_a0009.wav"]
    speech = load_speech(files[0])
    assert speech.name == "arctic_a0007" and speech.rate == 16000
    assert speech.samples.ndim == 1 and 3.0 < speech.seconds < 5.0
    assert 0.1 < np.max(np.abs(speech.samples)) <= 1.0


@pytest.mark.parametrize(("right_gain", "expected"), [(1.0, 8000), (0.0, 4000)])
def test_stereo_is_averaged_to_mono_at_the_native_rate(
    tmp_path: Path, right_gain: float, expected: int
) -> None:
    rate = 44100
    left = (np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 8000).astype(np.int16)
    right = (left * right_gain).astype(np.int16)
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.stack([left, right], axis=1).tobytes())
    speech = load_speech(path)
    assert speech.rate == rate and len(speech.samples) == rate
    assert np.max(np.abs(speech.samples)) * 32768 == pytest.approx(expected, rel=0.01)


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot decode"):
        load_speech(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError, match="cannot decode"):
        load_speech(junk)


def test_synthetic_speech_is_at_the_model_rate() -> None:
    speech = synthetic_speech(1.0, seed=2)
    assert speech.rate == 24000 and speech.name == "synthetic-2"
    assert "seed=2" in speech.origin
