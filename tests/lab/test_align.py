"""Alignment finds known delays, across rates, within bounds."""

from __future__ import annotations

import numpy as np
import pytest

from lab.align import align, estimate_delay, match_rate
from tests.lab.conftest import white


@pytest.mark.parametrize("delay", [0, 1, 37, 480, -25])
def test_delayed_copy_gives_its_delay(delay: int) -> None:
    ref = white(16000, 1.0)
    deg = np.concatenate([np.zeros(delay), ref]) if delay >= 0 else ref[-delay:]
    assert estimate_delay(ref, deg) == delay


def test_align_matches_rates_then_trims_to_the_overlap() -> None:
    ref = white(24000, 1.0)
    # What a path does: 8 kHz out, 10 ms late.
    deg = np.concatenate([np.zeros(80), match_rate(ref, 24000, 8000)])
    pair = align(ref, 24000, deg, 8000)
    assert pair.rate == 24000
    assert pair.delay_s == pytest.approx(0.010, abs=1 / 24000)
    assert len(pair.reference) == len(pair.degraded)
    band = match_rate(pair.reference, 24000, 8000)
    received = match_rate(pair.degraded, 24000, 8000)
    assert np.corrcoef(band[100:-100], received[100:-100])[0, 1] > 0.99


def test_explicit_rate_and_negative_delay() -> None:
    ref = white(16000, 1.0)
    pair = align(ref, 16000, ref[160:], 16000, rate=8000)
    assert pair.rate == 8000 and pair.delay == -80


def test_max_lag_bounds_the_search() -> None:
    ref = white(8000, 1.0)
    deg = np.concatenate([np.zeros(4000), ref])
    assert estimate_delay(ref, deg) == 4000
    assert abs(estimate_delay(ref, deg, max_lag=100)) <= 100


def test_nothing_to_align_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        estimate_delay(np.zeros(0), np.ones(10))
    with pytest.raises(ValueError, match="do not correlate"):
        estimate_delay(np.zeros(100), np.zeros(100))


def test_match_rate_is_a_copy_at_equal_rates() -> None:
    x = white(8000, 0.1)
    y = match_rate(x, 8000, 8000)
    assert np.array_equal(x, y) and y is not x
    assert len(match_rate(x, 8000, 48000)) == 6 * len(x)
