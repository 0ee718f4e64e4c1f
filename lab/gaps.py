"""Underrun gaps: digital silence the sender never sent, inside speech.

A pacer or jitter buffer that runs dry fills with exact zeros, so on PCM (before any lossy
codec) a gap is a run of digital silence ≥ 10 ms. A run is only an artifact if the sender had
audio there: the received audio just before and just after the run is located in the sent
signal (normalised cross-correlation near the running alignment), and the run counts as a gap
when the sent signal between those two points holds no digital silence of its own of at least
the same minimum length. This works whether the underrun *inserted* silence (later audio
shifted, nothing lost) or *replaced* audio, and a real pause that arrives intact is never
counted. Runs touching either end of the recording are the lead-in and tail, not gaps.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import signal

from lab.align import estimate_delay
from lab.pcm import FloatArray, as_float
from lab.runs import Span, runs

MIN_GAP_MS = 10.0


def _locate(template: FloatArray, sent: FloatArray, lo: int, hi: int) -> int:
    """Start index in ``sent`` within ``[lo, hi]`` where ``template`` matches best (NCC)."""
    n = len(template)
    lo, hi = max(lo, 0), min(hi, len(sent) - n)
    if hi < lo:
        raise ValueError("the sent signal is too short to contain the received audio")
    seg = sent[lo : hi + n]
    corr = signal.correlate(seg, template, mode="valid")  # picks direct or FFT by cost
    energy = np.concatenate([[0.0], np.cumsum(np.square(seg))])
    window = np.sqrt(np.maximum(energy[n:] - energy[:-n], 0.0))
    norm = float(np.linalg.norm(template))
    # Windows 60 dB below the template cannot be it; dividing by their near-zero energy would
    # turn the FFT's rounding noise into spurious perfect matches.
    audible = window > 1e-3 * norm
    ncc = np.where(audible, corr / np.where(audible, window * norm, 1.0), -np.inf)
    return lo + int(np.argmax(ncc))


def find_gaps(
    received: npt.ArrayLike,
    sent: npt.ArrayLike,
    rate: int,
    *,
    min_gap_ms: float = MIN_GAP_MS,
    context_ms: float = 20.0,
    max_drift_s: float = 2.0,
) -> list[Span]:
    """Digital-silence gaps in ``received`` that ``sent`` (same rate) did not contain.

    When the path is lossy, pass ``sent`` through the same codec first (e.g.
    :func:`lab.codecs.ulaw_roundtrip`): μ-law turns the sender's near-silence into the same
    digital silence the receiver sees, and a pause must look alike on both sides to be one.
    ``max_drift_s`` bounds how far the received audio may have shifted against the sent audio
    (the sum of inserted silence and transport delay) around the running alignment.
    """
    rx, tx = as_float(received), as_float(sent)
    min_len = math.ceil(min_gap_ms * rate / 1000)
    ctx = round(context_ms * rate / 1000)
    drift = round(max_drift_s * rate)
    silences = runs(rx == 0.0, min_len)
    if not silences:
        return []
    offset = estimate_delay(tx, rx, max_lag=drift)  # rx index − tx index of the same audio
    gaps: list[Span] = []
    for start, end in silences:
        if start < ctx or end + ctx > len(rx):
            continue
        before, after = rx[start - ctx : start], rx[end : end + ctx]
        if not before.any() or not after.any():
            continue
        p1 = _locate(before, tx, start - ctx - offset - drift, start - ctx - offset + drift) + ctx
        p2 = _locate(after, tx, end - offset - drift, end - offset + drift)
        offset = end - p2
        sender_paused = p2 > p1 and bool(runs(tx[p1:p2] == 0.0, min_len))
        if not sender_paused:
            gaps.append(Span(start / rate, (end - start) / rate))
    return gaps
