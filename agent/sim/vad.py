"""Speech probability for the caller's audio: Silero VAD from ``livekit-plugins-silero``.

The plugin's wheel ships the Silero ONNX model, so this needs no download. Silero was chosen
over an energy detector by measurement on the bundled CMU ARCTIC clips mixed with μ-law line
noise (``bench/sim_vad.py``, "simulator VAD" in ``bench/BENCHMARKS.md``): an energy threshold
that ignores the line noise also misses the quiet ends of words, and one that catches them fires
on the noise.

Silero runs on 16 kHz windows of 512 samples (32 ms); the Realtime protocol sends 24 kHz, so a
streaming soxr resampler sits in front. The ONNX session is loaded once per process and shared;
each connection keeps its own recurrent state.

Import this module on the main thread: importing the Silero plugin registers it with LiveKit
Agents, which insists on the main thread.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit.plugins.silero import onnx_model

from trunkline.resample import StreamResampler

_VAD_RATE = 16000


@functools.cache
def _inference_session() -> Any:
    return onnx_model.new_inference_session(force_cpu=True)


def preload() -> None:
    """Load the ONNX model now, so the first caller does not wait for it."""
    _inference_session()


@dataclass(frozen=True)
class Window:
    """Speech probability of the audio ending ``end_s`` seconds into the stream."""

    end_s: float
    probability: float


class SpeechScorer:
    """Streaming speech probability over PCM16 audio at any rate soxr can convert."""

    def __init__(self, sample_rate: int) -> None:
        self._resampler = StreamResampler(sample_rate, _VAD_RATE)
        self._model = onnx_model.OnnxModel(onnx_session=_inference_session(), sample_rate=_VAD_RATE)
        self._window = self._model.window_size_samples
        self._pending = np.zeros(0, dtype=np.float32)
        self._consumed = 0  # 16 kHz samples already scored

    @property
    def window_s(self) -> float:
        return self._window / _VAD_RATE

    def push(self, pcm: npt.NDArray[np.int16]) -> Iterator[Window]:
        """Feed audio; yields a probability for every complete window it completes."""
        resampled = self._resampler.push(pcm).astype(np.float32) / 32768.0
        self._pending = np.concatenate([self._pending, resampled])
        while len(self._pending) >= self._window:
            window, self._pending = (
                self._pending[: self._window],
                self._pending[self._window :],
            )
            self._consumed += self._window
            yield Window(end_s=self._consumed / _VAD_RATE, probability=self._model(window))
