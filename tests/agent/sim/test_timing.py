"""The timing model: think-time specs, their draws, and how reply audio is chunked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.sim.timing import (
    BURSTY_CHUNK_RANGE_S,
    STEADY_CHUNK_S,
    STEADY_SPEED,
    Chunking,
    ThinkTime,
    ThinkTimeError,
    plan_chunks,
)

RATE = 24000


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("800", "800"),
        (" fixed:250 ", "250"),
        ("lognormal:median=1200,p90=2500", "lognormal:median=1200,p90=2500"),
        ("LOGNORMAL: p90=2500 , median=1200", "lognormal:median=1200,p90=2500"),
        ("uniform:min=300,max=900", "uniform:min=300,max=900"),
        ("0", "0"),
    ],
)
def test_specs_parse_and_print_back(spec: str, text: str) -> None:
    assert str(ThinkTime.parse(spec)) == text


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "fast",
        "-5",
        "nan",
        "fixed:",
        "lognormal:median=1200",
        "lognormal:median=2500,p90=1200",
        "lognormal:median=1200,p90=2500,p99=4000",
        "lognormal:median=x,p90=2",
        "uniform:min=900,max=300",
        "gamma:k=2",
    ],
)
def test_bad_specs_are_rejected_with_a_message(spec: str) -> None:
    with pytest.raises(ThinkTimeError) as exc:
        ThinkTime.parse(spec)
    assert str(exc.value)


def test_fixed_think_time_is_exact() -> None:
    rng = np.random.default_rng(0)
    assert {ThinkTime.parse("800").sample_ms(rng) for _ in range(5)} == {800.0}


def test_lognormal_draws_match_the_requested_median_and_p90() -> None:
    rng = np.random.default_rng(1)
    draws = np.array(
        [ThinkTime.parse("lognormal:median=1200,p90=2500").sample_ms(rng) for _ in range(20000)]
    )
    assert np.median(draws) == pytest.approx(1200, rel=0.03)
    assert np.percentile(draws, 90) == pytest.approx(2500, rel=0.04)
    assert draws.min() > 0


def test_uniform_draws_stay_in_range() -> None:
    rng = np.random.default_rng(2)
    draws = [ThinkTime.parse("uniform:min=300,max=900").sample_ms(rng) for _ in range(2000)]
    assert 300 <= min(draws) < 330 and 870 < max(draws) <= 900


def test_same_seed_same_draws() -> None:
    spec = ThinkTime.parse("lognormal:median=900,p90=1800")
    a = [spec.sample_ms(np.random.default_rng(5)) for _ in range(3)]
    b = [spec.sample_ms(np.random.default_rng(5)) for _ in range(3)]
    assert a == b


def test_steady_chunks_are_equal_and_a_little_faster_than_real_time() -> None:
    total = int(2.35 * RATE)
    chunks = plan_chunks(total, RATE, Chunking.STEADY, np.random.default_rng(0))
    assert sum(c.samples for c in chunks) == total
    assert {c.samples for c in chunks[:-1]} == {round(STEADY_CHUNK_S * RATE)}
    assert chunks[-1].samples == total - 23 * round(STEADY_CHUNK_S * RATE)
    for c in chunks:
        assert c.gen_s == pytest.approx(c.samples / RATE / STEADY_SPEED)
    assert STEADY_SPEED > 1


def test_bursty_chunks_are_uneven_50_to_500_ms_with_uneven_speed() -> None:
    total = 60 * RATE
    chunks = plan_chunks(total, RATE, Chunking.BURSTY, np.random.default_rng(3))
    sizes = np.array([c.samples for c in chunks[:-1]]) / RATE
    low, high = BURSTY_CHUNK_RANGE_S
    assert sum(c.samples for c in chunks) == total
    assert sizes.min() >= low and sizes.max() <= high
    assert sizes.std() > 0.1  # uneven sizes, not a constant
    speeds = np.array([c.samples / RATE / c.gen_s for c in chunks])
    assert np.median(speeds) == pytest.approx(2.0, rel=0.15)
    # faster than real time overall, yet some chunks stall (slower than real time)
    assert sum(c.gen_s for c in chunks) < total / RATE
    assert 0.03 < np.mean(speeds < 1) < 0.25


def test_bursty_plan_is_seeded() -> None:
    def plan(seed: int) -> list[tuple[int, float]]:
        chunks = plan_chunks(5 * RATE, RATE, Chunking.BURSTY, np.random.default_rng(seed))
        return [(c.samples, c.gen_s) for c in chunks]

    assert plan(9) == plan(9)
    assert plan(9) != plan(10)


def test_empty_reply_has_no_chunks() -> None:
    assert plan_chunks(0, RATE, Chunking.BURSTY, np.random.default_rng(0)) == []


def test_fixed_rejects_non_finite() -> None:
    with pytest.raises(ThinkTimeError):
        ThinkTime.fixed(math.inf)
