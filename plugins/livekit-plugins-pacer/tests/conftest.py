"""Fixtures for pacer tests: a virtual clock and a ticker on it (grid origin 1000.0 s)."""

from __future__ import annotations

import pytest
from helpers import RecordingSink
from livekit.plugins.pacer.testing import Ticker, VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1000.0)


@pytest.fixture
def ticker(clock: VirtualClock) -> Ticker:
    return Ticker(clock)


@pytest.fixture
def sink(clock: VirtualClock) -> RecordingSink:
    return RecordingSink(clock)
