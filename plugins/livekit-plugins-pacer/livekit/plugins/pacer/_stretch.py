"""Adaptive playout: play a thin queue slightly slower, catch up once ahead, pitch unchanged.

A start hold keeps a model stall from becoming a gap by waiting before each reply, and the
wait is paid on every reply that opens short. A receiver jitter buffer (WebRTC's NetEQ) does
better: it starts early and, while its buffer is thin, plays slightly slower with a
time-scale modification that keeps the pitch, then slightly faster once it is ahead, so the
stall is absorbed in an inaudible tempo change instead of silence or delay.

The time-scale modification is Sonic (``libsonic``): pitch-synchronous overlap-add made for
speech, ~2 ms of CPU per second of 16 kHz audio, ~30 ms of input held, and at 1.0× it hands
samples through untouched (``bench/tsm_libraries.py`` compares it with Rubber Band and
WSOLA; the plugin README says why it won).

Playback positions must stay in the *model's* time — the realtime plugin truncates the
conversation to them — so every output sample carries how many model samples it stands for:
the rate it was made at. A stretch runs in *episodes*: one Sonic stream from the first slowed
(or hurried) frame until the rate is back at 1.0×, when it is flushed. After a flush it holds
nothing, so the episode's output stands for exactly the model samples fed into it; the last
piece of output absorbs Sonic's rounding, and positions are exact again at every episode's
end. Episodes never span segments: each segment has its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from libsonic import SonicStream

from ._segment import Pcm

_SCALE = 32767.0
"""Sonic works in 16-bit internally and converts floats with this scale: int16 in, scaled by
it, comes back as the same int16 (so 1.0× is bit-exact)."""


@dataclass(frozen=True, slots=True)
class Stretch:
    """How adaptive playout chooses its rate and when a segment starts.

    Args:
        min_rate: the slowest playout, while the queued audio is below the target cover.
        max_rate: the fastest, while catching up the time lost to slowing; 1.0 (the default)
            never catches up: measured, catching up at 1.1× cost 0.8 PESQ-WB for ~1 % of the
            reply's length back (``bench/BENCHMARKS.md``).
        start_cover: a segment starts once this share of the target cover is queued (0 starts
            at once); the hold's ``min_hold`` and ``max_hold`` still bound the wait.
        first_cover: the target cover, seconds, before any stall has been learned; such a
            segment (a call's greeting) starts after the hold's ``initial`` wait, as without
            adaptive playout.
        ahead: catch up only once the cover is this many times the target, or the segment is
            flushed (all of it is queued, so no stall can come).
        hysteresis: once slowing has started it lasts until the cover is (1 + this) × the
            target, and catching up lasts until the time lost is made good: few, long episodes,
            because each one's end costs a little quality (measured: toggling every few frames
            drops PESQ-WB by 0.5–1.8, one episode by 0.1–0.3).

    The target cover is the stall the :class:`AdaptiveHold` learned (its ``percentile`` of
    recent segments' longest stalls): slowing buys time while less than that is queued.
    """

    min_rate: float = 0.9
    max_rate: float = 1.0
    start_cover: float = 0.75
    first_cover: float = 0.3
    ahead: float = 2.0
    hysteresis: float = 0.25

    def __post_init__(self) -> None:
        if not 0.5 <= self.min_rate <= 1.0:
            raise ValueError(f"min_rate must be in [0.5, 1.0]: {self.min_rate}")
        if not 1.0 <= self.max_rate <= 2.0:
            raise ValueError(f"max_rate must be in [1.0, 2.0]: {self.max_rate}")
        if not 0.0 <= self.start_cover <= 1.0:
            raise ValueError(f"start_cover must be in [0, 1]: {self.start_cover}")
        if self.first_cover < 0:
            raise ValueError("first_cover must be >= 0")
        if self.ahead < 1.0:
            raise ValueError("ahead must be >= 1")
        if self.hysteresis < 0:
            raise ValueError("hysteresis must be >= 0")


class Stretcher:
    """One segment's time-scale modification, and what each output sample stands for.

    Output waits in a queue of ``(pcm, weight)`` pieces, ``weight`` being model samples per
    output sample; :meth:`take` hands out exactly the samples asked for and the model samples
    they represent (a float, summed exactly by the caller).
    """

    __slots__ = (
        "_accounted",
        "_carry",
        "_fed",
        "_out",
        "_sonic",
        "buffered",
        "rate",
        "sample_rate",
    )

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._sonic: SonicStream | None = None
        self._out: deque[tuple[Pcm, float]] = deque()
        self.buffered = 0
        """Output samples waiting to be taken."""
        self._fed = 0
        """Model samples fed into the current episode."""
        self._accounted = 0.0
        """Model samples its output so far stands for."""
        self.rate = 1.0
        self._carry = 0.0

    @property
    def active(self) -> bool:
        """An episode is running: Sonic may hold input."""
        return self._sonic is not None

    @property
    def pending_model(self) -> float:
        """Model samples fed but not yet taken (held by Sonic or waiting as output)."""
        waiting = sum(len(pcm) * weight for pcm, weight in self._out)
        return self._fed - self._accounted + waiting + self._carry

    def feed(self, pcm: Pcm, rate: float) -> None:
        """Model audio in, played at ``rate``; whatever Sonic releases joins the output."""
        sonic = self._sonic
        if sonic is None:
            sonic = self._sonic = SonicStream(self.sample_rate, 1)
        if rate != self.rate:
            sonic.set_speed(rate)
            self.rate = rate
        sonic.write(pcm.astype(np.float32) / _SCALE)
        self._fed += len(pcm)
        out = self._read()
        if len(out):
            # never claim more than was fed: Sonic releases a doubled pitch period early
            weight = min(rate, (self._fed - self._accounted) / len(out))
            self._append(out, weight)
            self._accounted += len(out) * weight

    def finish(self) -> None:
        """End the episode: everything Sonic holds comes out, and the output stands for
        exactly what was fed."""
        sonic = self._sonic
        if sonic is None:
            return
        sonic.flush()
        out = self._read()
        residual = self._fed - self._accounted
        if len(out):
            self._append(out, residual / len(out))
        elif self._out:
            pcm, weight = self._out[-1]
            self._out[-1] = (pcm, weight + residual / len(pcm))
        else:
            self._carry += residual  # output already taken stood for less: the next take owes it
        self._sonic = None
        self._fed = 0
        self._accounted = 0.0
        self.rate = 1.0

    def pass_through(self, pcm: Pcm) -> None:
        """Unstretched audio queued behind the episode's output, so order is kept."""
        self._append(pcm, 1.0)

    def take(self, n: int) -> tuple[Pcm, float]:
        """Up to ``n`` output samples and the model samples they stand for."""
        parts: list[Pcm] = []
        model, self._carry = self._carry, 0.0
        want = n
        while want and self._out:
            pcm, weight = self._out[0]
            if len(pcm) <= want:
                self._out.popleft()
                piece = pcm
            else:
                piece = pcm[:want]
                self._out[0] = (pcm[want:], weight)
            parts.append(piece)
            model += len(piece) * weight
            want -= len(piece)
        taken = n - want
        self.buffered -= taken
        if not parts:
            return np.zeros(0, dtype=np.int16), model
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), model

    def _append(self, pcm: Pcm, weight: float) -> None:
        self._out.append((pcm, weight))
        self.buffered += len(pcm)

    def _read(self) -> Pcm:
        assert self._sonic is not None
        got = self._sonic.read(self._sonic.available_frames())
        if not got:
            return np.zeros(0, dtype=np.int16)
        return np.clip(np.rint(np.asarray(got) * _SCALE), -32768, 32767).astype(np.int16)
