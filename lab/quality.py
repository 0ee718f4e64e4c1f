"""Objective speech quality against a reference: PESQ (ITU-T P.862) and STOI.

Both compare sample-aligned signals (use :func:`lab.align.align` first). PESQ is defined only
at 8 kHz (narrow-band, P.862.1 MOS-LQO) and 16 kHz (wide-band, P.862.2), so the pair is
resampled with soxr to the rate the mode requires; PESQ-WB on a telephony path therefore
scores the missing 4–8 kHz band as a loss, which is the point of comparing paths with it.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from pesq import PesqError, pesq
from pystoi import stoi

from lab.align import match_rate
from lab.pcm import as_float

PesqMode = Literal["nb", "wb"]
PESQ_RATES: Final[dict[PesqMode, int]] = {"nb": 8000, "wb": 16000}


def pesq_score(
    reference: npt.ArrayLike, degraded: npt.ArrayLike, rate: int, mode: PesqMode
) -> float:
    """PESQ MOS-LQO (≈1.0 bad … 4.5 NB / 4.64 WB identical)."""
    target = PESQ_RATES[mode]
    ref = match_rate(reference, rate, target)
    deg = match_rate(degraded, rate, target)
    if not np.any(ref) or not np.any(deg):
        raise ValueError(f"PESQ-{mode.upper()} needs speech in both signals, got silence")
    try:
        return float(pesq(target, ref, deg, mode))
    except PesqError as exc:  # e.g. no utterance found in silence
        raise ValueError(f"PESQ-{mode.upper()} failed: {exc}") from exc


def stoi_score(reference: npt.ArrayLike, degraded: npt.ArrayLike, rate: int) -> float:
    """Short-time objective intelligibility, 0 … 1 (pystoi resamples to 10 kHz itself)."""
    ref, deg = as_float(reference), as_float(degraded)
    if len(ref) != len(deg):
        raise ValueError("STOI needs aligned signals of equal length")
    return float(stoi(ref, deg, rate, extended=False))
