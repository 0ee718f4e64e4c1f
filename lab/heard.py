"""What a live caller heard, judged against the clean reply the model sent.

Every path runner hands over the agent's replies as its receiver heard them (one
:class:`HeardTurn` each); :func:`heard_figures` turns a path's turns into the figures the
tables show. The clean reply is known exactly (:mod:`lab.live_plan`), so each figure is read
against what the same audio gives through the same codecs with no transport at all: gaps are
silences the clean reply did not have there, and the click rate is compared with the clean
reply's own. Where the clean reply is given at the model's rate, complete replies (not talked
over) are also scored with PESQ against it and their length compared with it.

Silence, for gaps, is judged in 5 ms blocks whose peak stays below −54 dBFS (:func:`squelch`),
on the heard and the clean reply alike: after Opus a dropout decodes as a short fade with
low-level noise, not as exact zeros, and μ-law's own digital silence is below it anyway.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from lab.align import align
from lab.bandwidth import fft_bin_bandwidth, welch_bandwidth
from lab.chains import ChainOutput
from lab.clicks import click_times
from lab.gaps import find_gaps
from lab.pcm import Int16Array
from lab.quality import PesqMode, pesq_score

#: Blocks of this length whose peak stays below SQUELCH_PEAK count as silence.
SQUELCH_MS = 5
SQUELCH_PEAK = 64
#: The rate the clean reply is given at (the model's).
CLEAN_RATE = 24000


@dataclass(frozen=True)
class HeardTurn:
    """One reply as the receiver heard it; turn 0 is the greeting."""

    call_id: str
    turn: int
    rate: int
    #: From the first to the last sample of the reply the receiver played (silence trimmed).
    audio: Int16Array
    #: Times the receiver's own playout ran dry mid-reply and then resumed (a jitter-buffer
    #: underrun; the silence a pacer inserts is not one — it arrives as audio).
    receiver_gaps: int = 0
    #: Each message of agent audio as it arrived: (epoch seconds, seconds of audio in it).
    arrivals: tuple[tuple[float, float], ...] = ()
    #: The caller talked over this reply: until the sender's clear, until the last audio heard.
    barge_in_clear_ms: float | None = None
    barge_in_cutoff_ms: float | None = None
    #: How long the receiver held the reply's first audio before playing it (its playout
    #: buffer), where the receiver says; None where it does not.
    playout_s: float | None = None
    #: How much audio the receiver's jitter buffer added or removed to follow the jitter
    #: (time-scale changes), where the receiver says; None where it does not.
    stretched_ms: float | None = None

    @property
    def interrupted(self) -> bool:
        return self.barge_in_clear_ms is not None or self.barge_in_cutoff_ms is not None


def squelch(pcm: Int16Array, rate: int) -> Int16Array:
    """``pcm`` with every :data:`SQUELCH_MS` block (and a shorter last one) quieter than
    :data:`SQUELCH_PEAK` zeroed."""
    n = rate * SQUELCH_MS // 1000
    padded = np.concatenate([pcm, np.zeros(-len(pcm) % n, dtype=pcm.dtype)])
    blocks = padded.reshape(-1, n).copy()
    blocks[np.abs(blocks.astype(np.int32)).max(axis=1) < SQUELCH_PEAK] = 0
    out: Int16Array = blocks.reshape(-1)[: len(pcm)]
    return out


def trim_quiet(pcm: Int16Array, rate: int) -> Int16Array:
    """Without leading and trailing quiet (:func:`squelch`): a receiver may pass on low-level
    noise around a reply (Opus decoding silence, a bridge's hangover), which is not the reply."""
    loud = np.flatnonzero(squelch(pcm, rate))
    return pcm[loud[0] : loud[-1] + 1] if len(loud) else pcm[:0]


def trim_silence(pcm: Int16Array) -> Int16Array:
    """Without leading and trailing digital silence (what a receiver plays between replies)."""
    sound = np.flatnonzero(pcm)
    return pcm[sound[0] : sound[-1] + 1] if len(sound) else pcm[:0]


@dataclass(frozen=True)
class HeardFigures:
    turns: int
    heard_s: float
    bandwidth_welch_hz: float | None
    bandwidth_fft_bin_hz: float | None
    #: Digital-silence gaps ≥ 10 ms inside a reply that the clean reply did not have there.
    gaps: int
    gap_ms: float
    receiver_gaps: int
    clicks_per_min: float | None
    #: The clean replies through the same codecs: the click rate the speech has by itself.
    clean_clicks_per_min: float | None
    barge_ins: int
    barge_in_clear_ms: float | None
    barge_in_cutoff_ms: float | None
    #: PESQ NB / WB of complete replies against the clean reply (median), where scored.
    pesq_nb: float | None = None
    pesq_wb: float | None = None
    #: Complete replies' heard length over the clean reply's (median): < 1 lost audio,
    #: > 1 inserted silence.
    length_ratio: float | None = None
    #: The receiver's playout buffer before the first audio of a reply (median), where known.
    playout_ms: float | None = None
    #: Audio the receiver's jitter buffer added or removed over all replies, where known.
    stretched_ms: float | None = None

    @property
    def clicks_ratio(self) -> float | None:
        if self.clicks_per_min is None or not self.clean_clicks_per_min:
            return None
        return self.clicks_per_min / self.clean_clicks_per_min

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "clicks_ratio": self.clicks_ratio}


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def heard_figures(
    turns: Sequence[HeardTurn],
    reference: Callable[[int], ChainOutput],
    clean: Callable[[int], Int16Array] | None = None,
) -> HeardFigures:
    """Figures over every heard reply of one path.

    ``reference(turn)`` is that turn's clean reply through the path's codec chain
    (:func:`lab.chains.to_receiver`) at the receiver's rate, so a pause the codec turns into
    silence is a pause on both sides, and the click baseline includes what the codec does by
    itself. The baseline is taken over the same replies, weighted by how often each was
    heard. ``clean(turn)`` is the reply as the model sent it (24 kHz), for PESQ and length.
    Every signal is first cut to its loud part (:func:`trim_quiet`).
    """
    trimmed = [replace(t, audio=trim_quiet(t.audio, t.rate)) for t in turns]
    heard = [t for t in trimmed if len(t.audio)]
    gaps: list[float] = []
    clicks = clean_clicks = 0
    seconds = clean_seconds = 0.0
    nb: list[float] = []
    wb: list[float] = []
    ratios: list[float] = []
    for t in heard:
        chain = reference(t.turn)
        if chain.rate != t.rate:
            raise ValueError(f"heard {t.rate} Hz but the path's chain delivers {chain.rate} Hz")
        ref = trim_quiet(chain.pcm, chain.rate)  # cut as the heard reply is
        gaps += [
            g.duration_s for g in find_gaps(squelch(t.audio, t.rate), squelch(ref, t.rate), t.rate)
        ]
        clicks += len(click_times(t.audio, t.rate))
        seconds += len(t.audio) / t.rate
        clean_clicks += len(click_times(ref, t.rate))
        clean_seconds += len(ref) / t.rate
        if clean is not None and not t.interrupted:
            sent = trim_quiet(clean(t.turn), CLEAN_RATE)
            ratios.append((len(t.audio) / t.rate) / (len(sent) / CLEAN_RATE))
            modes: tuple[tuple[PesqMode, list[float]], ...] = (("nb", nb), ("wb", wb))
            for mode, scores in modes:
                with contextlib.suppress(ValueError):  # no utterance found, nothing to align
                    scores.append(_pesq(sent, t, mode))
    welch = fft_bin = None
    if heard:
        everything = np.concatenate([t.audio for t in heard])
        try:
            welch = welch_bandwidth(everything, heard[0].rate)
            fft_bin = fft_bin_bandwidth(everything, heard[0].rate)
        except ValueError:  # NoActiveAudio, or less than one 32 ms segment
            pass
    clear = [t.barge_in_clear_ms for t in turns if t.barge_in_clear_ms is not None]
    cutoff = [t.barge_in_cutoff_ms for t in turns if t.barge_in_cutoff_ms is not None]
    playout = [max(0.0, 1000 * t.playout_s) for t in heard if t.playout_s is not None]
    stretched = [t.stretched_ms for t in heard if t.stretched_ms is not None]
    return HeardFigures(
        turns=len(heard),
        heard_s=seconds,
        bandwidth_welch_hz=welch,
        bandwidth_fft_bin_hz=fft_bin,
        gaps=len(gaps),
        gap_ms=1000.0 * sum(gaps),
        receiver_gaps=sum(t.receiver_gaps for t in turns),
        clicks_per_min=clicks * 60.0 / seconds if seconds else None,
        clean_clicks_per_min=clean_clicks * 60.0 / clean_seconds if clean_seconds else None,
        barge_ins=max(len(clear), len(cutoff)),
        barge_in_clear_ms=_median(clear),
        barge_in_cutoff_ms=_median(cutoff),
        pesq_nb=_median(nb),
        pesq_wb=_median(wb),
        length_ratio=_median(ratios),
        playout_ms=_median(playout),
        stretched_ms=sum(stretched) if stretched else None,
    )


def _pesq(sent: Int16Array, heard: HeardTurn, mode: PesqMode) -> float:
    """PESQ of a heard reply against what the model sent, after aligning the two."""
    pair = align(sent, CLEAN_RATE, heard.audio, heard.rate, max_lag_s=0.5)
    return pesq_score(pair.reference, pair.degraded, pair.rate, mode)
