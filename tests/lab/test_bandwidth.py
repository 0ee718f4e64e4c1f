"""99 % bandwidth on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.align import match_rate
from lab.bandwidth import NoActiveAudio, fft_bin_bandwidth, welch_bandwidth
from tests.lab.conftest import tone, white


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_white_noise_reaches_99_percent_of_nyquist(rate: int) -> None:
    assert welch_bandwidth(white(rate, 3.0), rate) == pytest.approx(0.99 * rate / 2, rel=0.01)


def test_white_noise_at_8k_hits_the_published_top_bin_exactly() -> None:
    # 3,968.75 Hz = bin 127 of a 256-point FFT at 8 kHz, the figure published for PSTN paths.
    assert fft_bin_bandwidth(white(8000, 10.0), 8000) == 3968.75


@pytest.mark.parametrize(("freq", "rate"), [(440, 8000), (1000, 16000), (3000, 24000)])
def test_a_tone_measures_at_its_frequency(freq: float, rate: int) -> None:
    assert welch_bandwidth(tone(freq, rate), rate) == pytest.approx(freq, abs=62.5)
    assert fft_bin_bandwidth(tone(freq, rate), rate) == pytest.approx(freq, abs=62.5)


def test_band_limited_noise_measures_at_its_band_edge() -> None:
    # White noise at 8 kHz upsampled to 48 kHz: flat up to soxr's 3.8 kHz passband edge.
    band = match_rate(white(8000, 3.0), 8000, 48000)
    assert 3600 < welch_bandwidth(band, 48000) < 4000


def test_activity_gate_leaves_out_a_long_quiet_floor() -> None:
    # 0.1 s of tone, then 30 s of noise 41.5 dB below it: the floor holds ~2 % of the energy,
    # enough to move an ungated 99 % point, but every one of its frames is gated out.
    rate = 8000
    x = np.concatenate([tone(1000, rate, 0.1), white(rate, 30.0, dbfs=-55)])
    assert welch_bandwidth(x, rate) == pytest.approx(1000, abs=62.5)
    assert welch_bandwidth(x, rate, gated=False) > 2000


def test_fft_bin_method_is_pulled_to_nyquist_by_noise_frames() -> None:
    rate = 8000
    x = np.concatenate([tone(1000, rate, 1.0), white(rate, 5.0, dbfs=-60)])
    assert fft_bin_bandwidth(x, rate) == 3968.75
    assert welch_bandwidth(x, rate) == pytest.approx(1000, abs=62.5)


@settings(max_examples=25, deadline=None)
@given(
    rate=st.sampled_from([8000, 16000, 24000, 48000]),
    seed=st.integers(0, 2**16),
    freq=st.floats(100, 3900),
)
def test_fft_bin_figures_sit_on_the_31_25_hz_grid(rate: int, seed: int, freq: float) -> None:
    x = tone(freq, rate, 0.3) + white(rate, 0.3, dbfs=-40, seed=seed)
    assert (fft_bin_bandwidth(x, rate) / 31.25) % 1 == 0


def test_silence_and_too_short_input_are_clear_errors() -> None:
    with pytest.raises(NoActiveAudio):
        welch_bandwidth(np.zeros(8000), 8000)
    with pytest.raises(NoActiveAudio):
        fft_bin_bandwidth(np.zeros(8000), 8000)
    with pytest.raises(NoActiveAudio):
        welch_bandwidth(white(8000, 1.0, dbfs=-80), 8000)  # only a noise floor
    with pytest.raises(ValueError, match="32 ms"):
        welch_bandwidth(np.ones(100), 8000)


def test_pcm16_and_float_give_the_same_figure() -> None:
    x = white(16000, 1.0)
    pcm = np.round(x * 32768).astype(np.int16)
    assert welch_bandwidth(pcm, 16000) == pytest.approx(welch_bandwidth(x, 16000), rel=1e-3)
