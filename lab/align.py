"""Bringing a received signal into register with what was sent before comparing them.

Codecs and resamplers delay audio (Opus ~6.5 ms, soxr a little) and paths change the rate, so
every comparison metric (PESQ, STOI, energy drops) first matches rates with soxr and finds the
delay by FFT cross-correlation; comparing unaligned signals would score the delay, not the path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr
from scipy import signal

from lab.pcm import FloatArray, as_float


@dataclass(frozen=True)
class Alignment:
    """Two signals at one rate, trimmed to the span where both exist, sample for sample."""

    reference: FloatArray
    degraded: FloatArray
    rate: int
    #: How many samples (at ``rate``) the degraded signal lags the reference; negative = leads.
    delay: int

    @property
    def delay_s(self) -> float:
        return self.delay / self.rate


def match_rate(samples: npt.ArrayLike, from_rate: int, to_rate: int) -> FloatArray:
    """Float audio resampled with soxr HQ (a copy when the rates already match)."""
    x = as_float(samples)
    if from_rate == to_rate:
        return x.copy()
    return np.asarray(soxr.resample(x, from_rate, to_rate, quality="HQ"), dtype=np.float64)


def estimate_delay(
    reference: npt.ArrayLike, degraded: npt.ArrayLike, *, max_lag: int | None = None
) -> int:
    """Lag in samples of ``degraded`` behind ``reference`` at the cross-correlation peak.

    ``max_lag`` bounds the search (both directions), which keeps a periodic signal from
    locking onto a far-away period.
    """
    ref, deg = as_float(reference), as_float(degraded)
    if not len(ref) or not len(deg):
        raise ValueError("cannot align an empty signal")
    corr = signal.correlate(deg, ref, mode="full", method="fft")
    lags = signal.correlation_lags(len(deg), len(ref), mode="full")
    if max_lag is not None:
        within = np.abs(lags) <= max_lag
        corr, lags = corr[within], lags[within]
    if not np.any(corr > 0):
        raise ValueError("the signals do not correlate: nothing to align")
    return int(lags[int(np.argmax(corr))])


def align(
    reference: npt.ArrayLike,
    reference_rate: int,
    degraded: npt.ArrayLike,
    degraded_rate: int,
    *,
    rate: int | None = None,
    max_lag_s: float = 1.0,
) -> Alignment:
    """Match both signals to ``rate`` (default: the higher of the two), find the delay, trim."""
    rate = max(reference_rate, degraded_rate) if rate is None else rate
    ref = match_rate(reference, reference_rate, rate)
    deg = match_rate(degraded, degraded_rate, rate)
    delay = estimate_delay(ref, deg, max_lag=round(max_lag_s * rate))
    if delay >= 0:
        deg = deg[delay:]
    else:
        ref = ref[-delay:]
    n = min(len(ref), len(deg))
    if n == 0:
        raise ValueError("the aligned signals do not overlap")
    return Alignment(reference=ref[:n], degraded=deg[:n], rate=rate, delay=delay)
