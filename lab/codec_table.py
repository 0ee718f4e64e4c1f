"""The codec-chain table: every metric, for every path, on one piece of speech.

The input is brought to the model's 24 kHz as PCM16 (what the agent hands to a path), run
through each path's codecs, and measured against itself. A ``source`` row measures the input
as the identity path: its PESQ/STOI are the ceiling and its click count is the signal's own
baseline, so path rows are read against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

from lab.align import align, match_rate
from lab.bandwidth import fft_bin_bandwidth, welch_bandwidth
from lab.chains import MODEL_RATE, ChainOutput, run_chain
from lab.clicks import clicks_per_minute
from lab.codecs import OPUS_BITRATE
from lab.drops import energy_drops
from lab.gaps import find_gaps
from lab.pcm import Int16Array, to_int16
from lab.quality import pesq_score, stoi_score
from lab.speech import Speech
from trunkline.paths import CALL_PATHS, CallPath

RowPath = CallPath | Literal["source"]
ROW_PATHS: Final[tuple[RowPath, ...]] = ("source", *CALL_PATHS)


@dataclass(frozen=True)
class ChainRow:
    speech: str
    path: RowPath
    rate: int
    bandwidth_welch_hz: float
    bandwidth_fft_bin_hz: float
    delay_ms: float
    pesq_nb: float
    pesq_wb: float
    stoi: float
    gaps: int
    clicks_per_min: float
    energy_drops: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def model_audio(speech: Speech) -> Int16Array:
    """The speech as the agent would emit it: 24 kHz PCM16."""
    return to_int16(match_rate(speech.samples, speech.rate, MODEL_RATE))


def measure(name: str, path: RowPath, sent: Int16Array, out: ChainOutput) -> ChainRow:
    """All metrics of one path's output against the 24 kHz audio that went in."""
    pair = align(sent, MODEL_RATE, out.pcm, out.rate)
    # Energy drops are a transport defect, not a bandwidth one: compare inside the path's band.
    band_sent = match_rate(pair.reference, pair.rate, out.band_rate)
    band_received = match_rate(pair.degraded, pair.rate, out.band_rate)
    return ChainRow(
        speech=name,
        path=path,
        rate=out.rate,
        bandwidth_welch_hz=welch_bandwidth(out.pcm, out.rate),
        bandwidth_fft_bin_hz=fft_bin_bandwidth(out.pcm, out.rate),
        delay_ms=1000.0 * pair.delay_s,
        pesq_nb=pesq_score(pair.reference, pair.degraded, pair.rate, "nb"),
        pesq_wb=pesq_score(pair.reference, pair.degraded, pair.rate, "wb"),
        stoi=stoi_score(pair.reference, pair.degraded, pair.rate),
        gaps=len(find_gaps(out.pcm, match_rate(sent, MODEL_RATE, out.rate), out.rate)),
        clicks_per_min=clicks_per_minute(out.pcm, out.rate),
        energy_drops=len(energy_drops(band_sent, band_received, out.band_rate)),
    )


def chain_outputs(
    speech: Speech, *, opus_bitrate: int = OPUS_BITRATE
) -> dict[RowPath, ChainOutput]:
    """The input itself (``source``) and what each path delivers of it."""
    sent = model_audio(speech)
    outputs: dict[RowPath, ChainOutput] = {"source": ChainOutput(sent, MODEL_RATE, MODEL_RATE)}
    for path in CALL_PATHS:
        outputs[path] = run_chain(path, sent, opus_bitrate=opus_bitrate)
    return outputs


def measure_speech(
    speech: Speech,
    *,
    opus_bitrate: int = OPUS_BITRATE,
    on_row: Callable[[ChainRow], None] | None = None,
) -> tuple[list[ChainRow], dict[RowPath, ChainOutput]]:
    """Rows for the source and every path, plus the outputs (for spectrograms)."""
    outputs = chain_outputs(speech, opus_bitrate=opus_bitrate)
    sent = outputs["source"].pcm
    rows = []
    for path, out in outputs.items():
        rows.append(measure(speech.name, path, sent, out))
        if on_row is not None:
            on_row(rows[-1])
    return rows, outputs


def path_medians(rows: Sequence[ChainRow]) -> dict[RowPath, dict[str, float]]:
    """Per path, the median of each numeric column over all speech inputs."""
    fields = [f for f, v in asdict(rows[0]).items() if isinstance(v, int | float)] if rows else []
    return {
        path: {f: float(np.median([asdict(r)[f] for r in rows if r.path == path])) for f in fields}
        for path in ROW_PATHS
        if any(r.path == path for r in rows)
    }
