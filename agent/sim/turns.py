"""Server-side turn detection with the Realtime API's ``server_vad`` semantics.

OpenAI documents the knobs but not the algorithm, so this follows the documented behaviour:
speech starts when the speech probability reaches ``threshold``; ``speech_started`` reports
``audio_start_ms`` moved back by ``prefix_padding_ms`` (the audio the user item will include
before the detected onset); speech stops after ``silence_duration_ms`` below the threshold, and
``audio_end_ms`` includes that silence. Times are milliseconds of audio appended since the
session began, so they are independent of how fast the client sends.

A small hysteresis (the probability must fall ``HYSTERESIS`` below the threshold to count as
silence) keeps Silero's dips inside words from splitting a turn, as Silero's own reference
iterator does. ``semantic_vad`` needs a language model the simulator does not have; it is served
by these same rules with the server defaults.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .vad import Window

HYSTERESIS = 0.15


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True


@dataclass(frozen=True)
class SpeechStarted:
    onset_ms: int
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


TurnEvent = SpeechStarted | SpeechStopped


class TurnDetector:
    """Turns a stream of speech-probability windows into start/stop events."""

    def __init__(self, config: VadConfig, window_s: float) -> None:
        self.config = config
        self._window_ms = window_s * 1000
        self._speaking = False
        self._silence_since_ms: float | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def reset(self) -> None:
        self._speaking = False
        self._silence_since_ms = None

    def feed(self, windows: Iterable[Window]) -> Iterator[TurnEvent]:
        cfg = self.config
        for window in windows:
            end_ms = window.end_s * 1000
            start_ms = end_ms - self._window_ms
            if not self._speaking:
                if window.probability >= cfg.threshold:
                    self._speaking = True
                    self._silence_since_ms = None
                    onset = max(0, round(start_ms))
                    yield SpeechStarted(
                        onset_ms=onset, audio_start_ms=max(0, onset - cfg.prefix_padding_ms)
                    )
                continue
            if window.probability >= cfg.threshold - HYSTERESIS:
                self._silence_since_ms = None
                continue
            if self._silence_since_ms is None:
                self._silence_since_ms = start_ms
            if end_ms - self._silence_since_ms >= cfg.silence_duration_ms:
                self._speaking = False
                stop = self._silence_since_ms + cfg.silence_duration_ms
                self._silence_since_ms = None
                yield SpeechStopped(audio_end_ms=round(stop))
