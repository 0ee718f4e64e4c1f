"""99 % bandwidth: the frequency below which 99 % of a signal's spectral energy lies.

Two methods, always reported by name because they disagree by design:

- :func:`welch_bandwidth` (ours): Welch PSD over the whole utterance (Hann, 32 ms segments,
  50 % overlap) averaged over *active* segments only, cumulative energy *interpolated* at 99 %.
  Pauses and the noise floor are left out, so the figure describes the speech the caller hears.
- :func:`fft_bin_bandwidth` (labelled "FFT-bin"): each 32 ms frame's own rolloff taken as the
  first FFT bin whose cumulative magnitude reaches 99 % (no interpolation, no activity gate),
  then the median over frames. Its figures sit on the 31.25 Hz bin grid like the published
  comparison's (8,438 Hz and 3,968.75 Hz are bins 270 and 127), and noise-only frames of an
  8 kHz signal land on 3,968.75 Hz — the top bin below Nyquist — whatever the speech did (the
  median over white-noise frames is exactly that bin). It exists to show how such figures
  arise, not to rank paths.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import signal

from lab.pcm import FloatArray, active_mask, as_float, frame_levels_db

#: Segment / frame length of both methods; at any rate the FFT bins are 31.25 Hz apart.
SEGMENT_S: Final = 0.032
FRACTION: Final = 0.99


class NoActiveAudio(ValueError):
    """The signal has no frame loud enough to measure (silence or noise floor only)."""


def _segment_length(rate: int, n: int) -> int:
    nperseg = round(SEGMENT_S * rate)
    if n < nperseg:
        raise ValueError(f"need at least {SEGMENT_S * 1000:.0f} ms of audio, got {n} samples")
    return nperseg


def welch_bandwidth(
    samples: npt.ArrayLike, rate: int, *, fraction: float = FRACTION, gated: bool = True
) -> float:
    """99 % bandwidth in Hz by activity-gated Welch PSD with interpolation (our method)."""
    x = as_float(samples)
    nperseg = _segment_length(rate, len(x))
    hop = nperseg // 2
    freqs, _, psd = signal.spectrogram(
        x, fs=rate, window="hann", nperseg=nperseg, noverlap=nperseg - hop, mode="psd"
    )
    if gated:
        keep = active_mask(frame_levels_db(x, nperseg, hop)[: psd.shape[1]])
        if not keep.any():
            raise NoActiveAudio("no segment within 40 dB of the loudest and above −60 dBFS")
        psd = psd[:, keep]
    return _interpolated_rolloff(freqs, np.mean(psd, axis=1), fraction)


def _interpolated_rolloff(freqs: FloatArray, power: FloatArray, fraction: float) -> float:
    """Frequency where cumulative power crosses ``fraction``, linear within a bin.

    Bin k holds the power of [f_k − Δf/2, f_k + Δf/2], so the cumulative sum is placed at bin
    upper edges (capped at Nyquist) and interpolated from zero at 0 Hz.
    """
    total = float(np.sum(power))
    if total <= 0:
        raise NoActiveAudio("the spectrum has no energy")
    df = float(freqs[1] - freqs[0])
    edges = np.minimum(freqs + df / 2, freqs[-1])
    cum = np.cumsum(power) / total
    return float(np.interp(fraction, np.concatenate([[0.0], cum]), np.concatenate([[0.0], edges])))


def fft_bin_bandwidth(samples: npt.ArrayLike, rate: int, *, fraction: float = FRACTION) -> float:
    """99 % bandwidth in Hz by the bin-quantized per-frame method (see the module docstring).

    The cumulative sum runs over FFT magnitudes, as librosa's ``spectral_rolloff`` does. Frames
    of digital silence have no rolloff and are skipped; every other frame counts, noise
    included. The lower median keeps the figure on the bin grid.
    """
    x = as_float(samples)
    n = _segment_length(rate, len(x))
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::n]
    magnitude = np.abs(np.fft.rfft(frames * signal.get_window("hann", n), axis=1))
    totals = magnitude.sum(axis=1)
    magnitude = magnitude[totals > 0]
    if len(magnitude) == 0:
        raise NoActiveAudio("every frame is digital silence")
    cum = np.cumsum(magnitude, axis=1) / totals[totals > 0, None]
    first_bin = np.argmax(cum >= fraction - 1e-12, axis=1)
    rolloffs = first_bin * (rate / n)
    return float(np.quantile(rolloffs, 0.5, method="lower"))
