"""The simulator's timing model: how long the model "thinks", and how its audio arrives.

This is the point of the simulator. Realtime models answer after a variable delay (0.5–4 s) and
then emit audio in bursts of uneven size faster than real time, with occasional stalls. The
pacer exists because of that pattern, so the simulator reproduces it deliberately and
deterministically (every draw comes from a seeded generator):

* ``ThinkTime`` — the delay from ``response.created`` to the first audio delta, fixed or drawn
  from a distribution given as a short spec (``800``, ``lognormal:median=1200,p90=2500``,
  ``uniform:min=300,max=900``).
* ``plan_chunks`` — how a reply's audio is cut into deltas and how long the model takes to
  produce each one: ``steady`` (equal chunks a little faster than real time) or ``bursty``
  (50–500 ms chunks, each produced at its own uneven speed, some slower than real time).
* ``Clock`` — the time source the streamer sleeps on, injectable so unit tests run instantly.
"""

from __future__ import annotations

import asyncio
import enum
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: z-score of the 90th percentile of a standard normal distribution.
_Z90 = 1.2815515655446004


class Chunking(enum.StrEnum):
    STEADY = "steady"
    BURSTY = "bursty"


#: steady chunking: every delta carries this much audio ...
STEADY_CHUNK_S = 0.1
#: ... and is produced this many times faster than it plays.
STEADY_SPEED = 1.2
#: bursty chunking: delta durations are drawn uniformly from this range (seconds) ...
BURSTY_CHUNK_RANGE_S = (0.05, 0.5)
#: ... and each is produced at a speed drawn from a log-normal around this median ...
BURSTY_MEDIAN_SPEED = 2.0
#: ... with this log-space spread: about 12 % of chunks come slower than real time (stalls).
BURSTY_SPEED_SIGMA = 0.6


class ThinkTimeError(ValueError):
    """A think-time spec that cannot be understood; the message says what is expected."""


@dataclass(frozen=True)
class ThinkTime:
    """A distribution of think times in milliseconds, parsed from a short text spec."""

    kind: str
    params: tuple[tuple[str, float], ...]

    @classmethod
    def fixed(cls, ms: float) -> ThinkTime:
        if not math.isfinite(ms) or ms < 0:
            raise ThinkTimeError(f"think time must be a finite number of ms ≥ 0, got {ms}")
        return cls("fixed", (("ms", float(ms)),))

    @classmethod
    def parse(cls, spec: str) -> ThinkTime:
        """Parse ``800``, ``fixed:800``, ``lognormal:median=M,p90=P`` or ``uniform:min=A,max=B``."""
        text = spec.strip()
        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        if not rest and _is_number(kind):
            return cls.fixed(float(kind))
        if kind == "fixed":
            if not _is_number(rest):
                raise ThinkTimeError(f"fixed think time needs a number of ms, got {spec!r}")
            return cls.fixed(float(rest))
        params = _parse_params(spec, rest)
        if kind == "lognormal":
            median, p90 = _require(spec, params, "median", "p90")
            if not 0 < median < p90:
                raise ThinkTimeError(f"lognormal needs 0 < median < p90, got {spec!r}")
            return cls("lognormal", (("median", median), ("p90", p90)))
        if kind == "uniform":
            low, high = _require(spec, params, "min", "max")
            if not 0 <= low <= high:
                raise ThinkTimeError(f"uniform needs 0 ≤ min ≤ max, got {spec!r}")
            return cls("uniform", (("min", low), ("max", high)))
        raise ThinkTimeError(
            f"unknown think-time spec {spec!r}: use a number of ms (800), "
            "lognormal:median=1200,p90=2500 or uniform:min=300,max=900"
        )

    def sample_ms(self, rng: np.random.Generator) -> float:
        p = dict(self.params)
        if self.kind == "fixed":
            return p["ms"]
        if self.kind == "uniform":
            return float(rng.uniform(p["min"], p["max"]))
        sigma = math.log(p["p90"] / p["median"]) / _Z90
        return float(p["median"] * math.exp(sigma * rng.standard_normal()))

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{dict(self.params)['ms']:g}"
        return self.kind + ":" + ",".join(f"{k}={v:g}" for k, v in self.params)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_params(spec: str, rest: str) -> dict[str, float]:
    params: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not _is_number(value):
            raise ThinkTimeError(f"expected key=number pairs in {spec!r}, got {part!r}")
        params[key.strip().lower()] = float(value)
    return params


def _require(spec: str, params: dict[str, float], *keys: str) -> list[float]:
    missing = [k for k in keys if k not in params]
    extra = sorted(set(params) - set(keys))
    if missing or extra:
        raise ThinkTimeError(f"{spec!r} needs exactly {', '.join(keys)}")
    values = [params[k] for k in keys]
    if not all(math.isfinite(v) for v in values):
        raise ThinkTimeError(f"{spec!r} has a non-finite value")
    return values


@dataclass(frozen=True)
class Chunk:
    """One audio delta: ``samples`` long, produced ``gen_s`` seconds after the previous one."""

    samples: int
    gen_s: float


def plan_chunks(
    total_samples: int, sample_rate: int, chunking: Chunking, rng: np.random.Generator
) -> list[Chunk]:
    """Cut a reply of ``total_samples`` into deltas and give each its production time."""
    chunks: list[Chunk] = []
    remaining = total_samples
    while remaining > 0:
        if chunking is Chunking.STEADY:
            size = min(remaining, round(STEADY_CHUNK_S * sample_rate))
            speed = STEADY_SPEED
        else:
            low, high = BURSTY_CHUNK_RANGE_S
            size = min(remaining, round(rng.uniform(low, high) * sample_rate))
            speed = BURSTY_MEDIAN_SPEED * math.exp(BURSTY_SPEED_SIGMA * rng.standard_normal())
        chunks.append(Chunk(samples=size, gen_s=size / sample_rate / speed))
        remaining -= size
    return chunks


class Clock(Protocol):
    """Monotonic time in seconds and a way to wait until a point on it."""

    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep_until(self, deadline: float) -> None:
        await asyncio.sleep(max(0.0, deadline - self.now()))
