"""Sample representation and levels shared by every metric.

Metrics accept PCM16 or float audio and work in float64 at full scale ±1.0, so a dBFS figure
means the same whichever form a caller recorded. Levels are mean-square power relative to a
full-scale square wave (a full-scale sine is −3 dBFS), the convention the activity gate's
−60 dBFS floor is stated in.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]

#: Below this a level is treated as silence; keeps log10 finite on digital silence.
SILENCE_DBFS: Final = -200.0

#: The activity gate used by bandwidth and energy-drop metrics: a frame counts as active
#: when it is within this many dB of the loudest frame ...
ACTIVE_WITHIN_DB: Final = 40.0
#: ... and above this absolute level.
ACTIVE_FLOOR_DBFS: Final = -60.0


def as_float(samples: npt.ArrayLike) -> FloatArray:
    """Mono audio as float64 at full scale ±1.0 (PCM16 is divided by 32768)."""
    a = np.asarray(samples)
    if a.ndim != 1:
        raise ValueError(f"mono audio must be a 1-D array, got shape {a.shape}")
    if a.dtype == np.int16:
        return a.astype(np.float64) / 32768.0
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64)
    raise TypeError(f"audio must be int16 PCM or float, got {a.dtype}")


def to_int16(samples: npt.ArrayLike) -> Int16Array:
    """Float audio (±1.0) to PCM16 with rounding and clipping, as a sound card would."""
    x = as_float(samples)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def frame_levels_db(x: FloatArray, frame: int, hop: int | None = None) -> FloatArray:
    """Mean-square level in dBFS of each full frame of ``frame`` samples, ``hop`` apart."""
    hop = frame if hop is None else hop
    if len(x) < frame:
        return np.zeros(0, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    ms = np.mean(np.square(windows), axis=1)
    with np.errstate(divide="ignore"):
        levels: FloatArray = np.maximum(10.0 * np.log10(ms), SILENCE_DBFS)
    return levels


def active_mask(
    levels_db: FloatArray,
    *,
    within_db: float = ACTIVE_WITHIN_DB,
    floor_dbfs: float = ACTIVE_FLOOR_DBFS,
) -> npt.NDArray[np.bool_]:
    """Frames that carry the signal rather than its pauses or noise floor.

    Relative to the loudest frame so a quiet recording is judged like a loud one, with an
    absolute floor so a recording of pure noise has no active frames at all.
    """
    if len(levels_db) == 0:
        return np.zeros(0, dtype=np.bool_)
    loudest = float(np.max(levels_db))
    mask: npt.NDArray[np.bool_] = (levels_db >= loudest - within_db) & (levels_db > floor_dbfs)
    return mask
