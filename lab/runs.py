"""Runs of consecutive flagged samples or frames, the shape every artifact takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Span:
    """One artifact event in the received signal's time."""

    start_s: float
    duration_s: float


def runs(mask: npt.NDArray[np.bool_], min_len: int = 1) -> list[tuple[int, int]]:
    """``[start, end)`` index pairs of each run of True at least ``min_len`` long."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=np.bool_), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [
        (int(s), int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= min_len
    ]
