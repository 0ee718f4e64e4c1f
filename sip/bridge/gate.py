"""Cutting the agent's continuous room audio into stretches of speech.

A subscribed LiveKit track never stops: between replies it carries silence, 10 ms at a time.
Forwarding that to Twilio would cost every call 50 messages a second of nothing, and one endless
pacer segment would let every network hiccup add latency for the rest of the call. So the
bridge forwards only *stretches*: from the first frame with sound until ``hangover_ms`` of quiet.
Each stretch is one pacer segment (a fresh hold absorbs arrival jitter) and one pair of Twilio
marks (when the caller started, and finished, hearing it).

After a ``clear`` (the agent was interrupted) the tail of the cut reply is still in flight
through the SFU; it is dropped until the track goes quiet, so the caller does not hear a
fragment of the reply they just talked over. The wait is bounded by ``max_mute_ms`` in case the
agent simply keeps talking.

Quantities are counted in samples of received audio, not read from a clock: the track delivers
audio in real time, so sample counts are time, and the gate stays a pure function of its input.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class GateSettings:
    threshold: int = 64
    """Peak magnitude (PCM16) that counts as sound: -54 dBFS. Decoded digital silence stays
    within a few units of zero; speech peaks are hundreds of times higher."""
    hangover_ms: int = 400
    """Quiet that ends a stretch: longer than the pauses between a reply's sentences."""
    unmute_quiet_ms: int = 60
    """After a clear, quiet that shows the cut reply's tail has passed."""
    max_mute_ms: int = 1000


class Verdict(enum.Enum):
    DROP = "drop"
    FORWARD = "forward"
    FORWARD_AND_END = "forward and end"
    """Forward this frame, then end the stretch (the pacer flushes the segment)."""


class _State(enum.Enum):
    IDLE = "idle"
    ACTIVE = "active"
    MUTED = "muted"


class StretchGate:
    def __init__(self, sample_rate: int, settings: GateSettings | None = None) -> None:
        self.settings = settings = settings or GateSettings()
        self._hangover = sample_rate * settings.hangover_ms // 1000
        self._unmute_quiet = sample_rate * settings.unmute_quiet_ms // 1000
        self._max_mute = sample_rate * settings.max_mute_ms // 1000
        self._state = _State.IDLE
        self._quiet_run = 0
        self._muted_for = 0
        self.dropped_after_clear = 0
        """Samples of a cut reply's tail dropped (for logs and tests)."""

    @property
    def active(self) -> bool:
        return self._state is _State.ACTIVE

    def is_sound(self, pcm: npt.NDArray[np.int16]) -> bool:
        return bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) >= self.settings.threshold

    def feed(self, pcm: npt.NDArray[np.int16]) -> Verdict:
        sound = self.is_sound(pcm)
        if self._state is _State.MUTED:
            self._muted_for += len(pcm)
            self._quiet_run = 0 if sound else self._quiet_run + len(pcm)
            if self._quiet_run >= self._unmute_quiet or self._muted_for >= self._max_mute:
                self._state = _State.IDLE
            if self._state is _State.MUTED or not sound:
                self.dropped_after_clear += len(pcm)
                return Verdict.DROP
        if self._state is _State.IDLE:
            if not sound:
                return Verdict.DROP
            self._state = _State.ACTIVE
            self._quiet_run = 0
            return Verdict.FORWARD
        if sound:
            self._quiet_run = 0
            return Verdict.FORWARD
        self._quiet_run += len(pcm)
        if self._quiet_run >= self._hangover:
            self._state = _State.IDLE
            return Verdict.FORWARD_AND_END
        return Verdict.FORWARD

    def mute(self) -> None:
        """The agent was interrupted: drop audio until its tail has passed."""
        self._state = _State.MUTED
        self._quiet_run = 0
        self._muted_for = 0
