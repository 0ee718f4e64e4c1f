"""Judging what a browser played against what the model sent.

The page plays the agent's Opus track after the browser's jitter buffer and decoder; the model
(the simulator) sent espeak-ng speech at 24 kHz. Opus does not keep the waveform, and the
decoder turns the sender's digital silence into a faint noise floor (around −106 dBFS here),
so everything below compares *levels* on a 5 ms grid rather than samples, and every threshold is
applied to both sides alike.

Thresholds, and why:
- :data:`QUIET_DBFS` −55 dBFS: inside a reply speech frames sit between −10 and −35 dBFS and
  decoded silence near −106; a hole the sender or the jitter buffer leaves falls far below −55,
  and espeak's own closures and pauses do too — in the model's audio as well, so they are
  matched, not miscounted.
- :data:`MIN_GAP_MS` 20 ms: one Opus frame, the unit the agent's encoder and the browser's
  jitter buffer work in, so a frame lost, late or sent as silence leaves a hole at least this
  long; shorter quiet stretches (5–10 ms) also appear where the codec renders the edges of
  quiet consonants, with no counterpart in the model's audio.
- :data:`AUDIBLE_DBFS` −45 dBFS: what counts as sound when timing replies and utterances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import signal

from lab.pcm import FloatArray, as_float, frame_levels_db
from lab.runs import runs

FRAME_S: Final = 0.005
QUIET_DBFS: Final = -55.0
MIN_GAP_MS: Final = 20.0
AUDIBLE_DBFS: Final = -45.0
#: the envelope a quiet run is located by: this much audio before it
CONTEXT_S: Final = 0.4
#: how far a played quiet run may sit from where the running alignment predicts it
SEARCH_S: Final = 0.25
#: a played quiet run matches the model's audio when at least this share of the model's frames
#: at the predicted place are quiet too (10 dB more lenient there: levels shift a little in Opus)
MATCHED_SHARE: Final = 0.5
MATCH_SLACK_DB: Final = 10.0


def levels(pcm: npt.ArrayLike, rate: int) -> FloatArray:
    """Mean-square level in dBFS of each 5 ms frame."""
    frame = round(FRAME_S * rate)
    return frame_levels_db(as_float(pcm), frame)


def audible_spans(pcm: npt.ArrayLike, rate: int, *, bridge_s: float) -> list[tuple[float, float]]:
    """(start, end) seconds of sound, quiet stretches shorter than ``bridge_s`` bridged over."""
    loud = levels(pcm, rate) > AUDIBLE_DBFS
    bridge = round(bridge_s / FRAME_S)
    spans: list[tuple[int, int]] = []
    for start, end in runs(loud):
        if spans and start - spans[-1][1] < bridge:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return [(s * FRAME_S, e * FRAME_S) for s, e in spans]


def audible_s(pcm: npt.ArrayLike, rate: int) -> float:
    return float(np.count_nonzero(levels(pcm, rate) > AUDIBLE_DBFS)) * FRAME_S


def trimmed(pcm: npt.ArrayLike, rate: int) -> FloatArray:
    """From the first to the last audible frame."""
    x = as_float(pcm)
    loud = np.flatnonzero(levels(x, rate) > AUDIBLE_DBFS)
    if len(loud) == 0:
        return x[:0]
    frame = round(FRAME_S * rate)
    return x[loud[0] * frame : (loud[-1] + 1) * frame]


def band_share_db(pcm: npt.ArrayLike, rate: int, low_hz: float, high_hz: float) -> float:
    """The share of the signal's energy between ``low_hz`` and ``high_hz``, in dB."""
    freqs, power = signal.welch(as_float(pcm), rate, nperseg=2048)
    band = (freqs >= low_hz) & (freqs < high_hz)
    return float(10 * np.log10(max(power[band].sum(), 1e-30) / max(power.sum(), 1e-30)))


def _envelope(db: FloatArray) -> FloatArray:
    """Levels floored at −80 dBFS (below that, the floor is the codec's, not the speech's)."""
    return np.maximum(db, -80.0)


def best_offset(played_db: FloatArray, sent_db: FloatArray, *, max_lag: int) -> int:
    """Frames the played envelope lags the sent one: the peak of the cross-correlation of
    the mean-removed envelopes within ±``max_lag`` frames."""
    a = _envelope(played_db) - np.mean(_envelope(played_db))
    b = _envelope(sent_db) - np.mean(_envelope(sent_db))
    corr = signal.correlate(a, b, mode="full")
    lags = signal.correlation_lags(len(a), len(b), mode="full")
    keep = np.abs(lags) <= max_lag
    return int(lags[keep][np.argmax(corr[keep])])


def envelope_correlation(played: npt.ArrayLike, sent: npt.ArrayLike, rate: int) -> float:
    """How alike the two level envelopes are: the mean, over 1 s windows of ``played``, of the
    Pearson correlation with the best-placed stretch of ``sent`` (within ±:data:`SEARCH_S` of
    the running alignment), so that time a jitter buffer inserted or removed earlier does not
    count against the rest. Speech against other speech or noise scores near 0."""
    p, s = _envelope(levels(played, rate)), _envelope(levels(sent, rate))
    window = round(1.0 / FRAME_S)
    search = round(SEARCH_S / FRAME_S)
    offset = best_offset(p[: 2 * window], s[: 2 * window], max_lag=2 * window)
    scores: list[float] = []
    for start in range(0, len(p) - window // 2, window):
        part = p[start : start + window]
        best, best_score = offset, -1.0
        for candidate in range(offset - search, offset + search + 1):
            lo = start - candidate
            if lo < 0 or lo + len(part) > len(s):
                continue
            other = s[lo : lo + len(part)]
            if np.std(part) == 0 or np.std(other) == 0:
                continue
            score = float(np.corrcoef(part, other)[0, 1])
            if score > best_score:
                best, best_score = candidate, score
        offset = best
        scores.append(best_score)
    return float(np.mean(scores)) if scores else 0.0


@dataclass(frozen=True)
class Hole:
    """A quiet stretch in the played reply where the model's audio was not quiet."""

    start_s: float
    """From the reply's first audible frame."""
    duration_s: float


def find_holes(played: npt.ArrayLike, sent: npt.ArrayLike, rate: int) -> list[Hole]:
    """Quiet runs of at least :data:`MIN_GAP_MS` inside ``played`` (a reply trimmed to its
    audible span) that the model's reply ``sent`` (same rate) has no quiet at.

    Each run is located in ``sent`` by the envelope of the audio just before it, searched near
    where the previous runs put the alignment, so silence inserted earlier in the reply (which
    shifts everything after it) does not throw later matches off.
    """
    p_db, s_db = levels(played, rate), levels(sent, rate)
    context = round(CONTEXT_S / FRAME_S)
    search = round(SEARCH_S / FRAME_S)
    offset = best_offset(p_db[: 2 * context], s_db[: 4 * context], max_lag=4 * context)
    holes: list[Hole] = []
    for start, end in runs(p_db < QUIET_DBFS, round(MIN_GAP_MS / 1000 / FRAME_S)):
        if start == 0 or end == len(p_db):
            continue  # the reply's edges: lead-in and tail, not holes
        offset = _relocate(p_db, s_db, start, context, offset, search)
        s_start, s_end = start - offset, end - offset
        there = s_db[max(s_start - 2, 0) : max(s_end + 2, 0)]
        quiet = there < QUIET_DBFS + MATCH_SLACK_DB
        if len(there) == 0 or np.mean(quiet) < MATCHED_SHARE:
            holes.append(Hole(start * FRAME_S, (end - start) * FRAME_S))
    return holes


def _relocate(
    p_db: FloatArray, s_db: FloatArray, at: int, context: int, offset: int, search: int
) -> int:
    """The offset that best places the played audio before frame ``at`` in the sent audio."""
    before = _envelope(p_db[max(at - context, 0) : at])
    if len(before) < context // 4:
        return offset
    best, best_score = offset, -np.inf
    for candidate in range(offset - search, offset + search + 1):
        lo = at - len(before) - candidate
        if lo < 0 or lo + len(before) > len(s_db):
            continue
        window = _envelope(s_db[lo : lo + len(before)])
        score = -float(np.mean(np.abs(window - before)))
        if score > best_score:
            best, best_score = candidate, score
    return best
