from __future__ import annotations

import numpy as np
import pytest

from lab.pcm import SILENCE_DBFS, active_mask, as_float, frame_levels_db, to_int16
from tests.lab.conftest import level_db, tone


def test_int16_is_scaled_to_full_scale_one() -> None:
    x = as_float(np.array([-32768, 0, 16384], dtype=np.int16))
    assert x.dtype == np.float64
    assert list(x) == [-1.0, 0.0, 0.5]


def test_float_passes_through_and_other_types_are_refused() -> None:
    assert list(as_float(np.array([0.25], dtype=np.float32))) == [0.25]
    with pytest.raises(TypeError):
        as_float(np.array([1, 2], dtype=np.int32))
    with pytest.raises(ValueError, match="mono"):
        as_float(np.zeros((2, 10)))


def test_to_int16_rounds_and_clips() -> None:
    assert list(to_int16(np.array([0.5, 2.0, -2.0, 1.4 / 32768]))) == [16384, 32767, -32768, 1]


def test_levels_follow_the_full_scale_square_convention() -> None:
    assert level_db(np.ones(100)) == pytest.approx(0.0)
    assert level_db(tone(1000, 8000, amp=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert level_db(np.zeros(10)) == SILENCE_DBFS
    levels = frame_levels_db(np.concatenate([np.zeros(80), np.full(80, 0.1)]), 80)
    assert list(levels) == pytest.approx([SILENCE_DBFS, -20.0])


def test_active_frames_are_near_the_loudest_and_above_the_floor() -> None:
    levels = np.array([-10.0, -45.0, -55.0, SILENCE_DBFS])
    assert list(active_mask(levels)) == [True, True, False, False]
    assert not active_mask(np.array([-65.0, -70.0])).any()  # a noise-only recording
