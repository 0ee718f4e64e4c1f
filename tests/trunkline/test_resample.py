"""soxr wrappers: band-limiting to 8 kHz and chunked streaming equal to one-shot."""

from __future__ import annotations

import numpy as np

from trunkline.resample import StreamResampler, resample


def _tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _level_db(x: np.ndarray) -> float:
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9
    return float(20 * np.log10(rms / 10000 * np.sqrt(2)))


def test_passband_tone_survives_and_alias_is_rejected() -> None:
    passed = resample(_tone(1000, 48000), 48000, 8000)
    assert len(passed) == 8000
    assert _level_db(passed[400:-400]) > -0.5
    rejected = resample(_tone(4300, 48000), 48000, 8000)
    assert _level_db(rejected[400:-400]) < -60  # would alias to 3.7 kHz without a filter


def test_same_rate_is_a_copy() -> None:
    x = _tone(440, 8000, 0.1)
    y = resample(x, 8000, 8000)
    assert np.array_equal(x, y) and y is not x


def test_streaming_in_20ms_chunks_matches_one_shot() -> None:
    x = _tone(700, 24000, 0.5)
    stream = StreamResampler(24000, 8000)
    chunks = [stream.push(x[i : i + 480]) for i in range(0, len(x), 480)]
    chunks.append(stream.push(np.zeros(0, dtype=np.int16), last=True))
    streamed = np.concatenate(chunks)
    assert abs(len(streamed) - len(x) // 3) <= 1
    ref = resample(x, 24000, 8000)
    n = min(len(ref), len(streamed))
    diff = np.abs(streamed[200 : n - 200].astype(int) - ref[200 : n - 200].astype(int))
    assert diff.max() <= 2
