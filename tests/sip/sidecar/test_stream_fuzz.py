"""Mutated media streams against the real local-mode sidecar, while an honest caller talks.

The hostile peer (``lab.caller.hostile``) sends each stream a spoiled Twilio sequence: renamed
events, dropped and retyped fields, payloads past every limit, UTF-16 and invalid UTF-8, binary
frames, truncated JSON, duplicated, swapped and missing messages, sockets closed half-way —
most streams with a real stream token, so the spoiled messages reach a live agent session. Per
stream: the sidecar closes it with a clean code or drops what it cannot use, and ends it with
exactly one INFO line; never an exception (the log check fails the test on any ERROR line or
task left behind). Meanwhile the honest call goes as a call placed alone does: on virtual time
(``tests.virtual_time``) the same cadence and lead, no gap, each turn's latency and audio to the
frame.
This is the short run; ``bench/fuzz_streams.py`` is the long one (10^5 messages).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from lab.caller.hostile import CLEAN_CLOSES, Mutator, StreamOutcome, hostile_stream
from sip.sidecar.app import SidecarState
from tests.sip.sidecar.honest import assert_undisturbed, call_alone, honest_call, local_sidecar
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.virtual_time]

STREAMS = 24
CONCURRENT = 4
SEED = 15


@pytest.fixture
async def sidecar() -> AsyncIterator[tuple[str, SidecarState]]:
    async with local_sidecar() as served:
        yield served


async def campaign(url: str) -> list[StreamOutcome]:
    mutator = Mutator(SEED)
    slots = asyncio.Semaphore(CONCURRENT)

    async def one(n: int) -> StreamOutcome:
        async with slots, aiohttp.ClientSession() as http:
            return await hostile_stream(http, url, f"CAfuzz{n}", mutator, real_token=n % 6 != 0)

    return await asyncio.gather(*(one(n) for n in range(STREAMS)))


async def test_mutated_streams_end_cleanly_and_leave_an_honest_call_alone(
    sidecar: tuple[str, SidecarState], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sip.sidecar")
    url, state = sidecar
    alone = await call_alone(turns=2)
    caplog.clear()
    honest = asyncio.ensure_future(honest_call(url, turns=2))
    outcomes = await campaign(url)
    result = await honest
    await eventually(lambda: state.active_calls == 0, within_s=20)
    for outcome in outcomes:
        assert outcome.error is None or "Connection" in outcome.error, outcome
        if outcome.closed_by_sidecar:
            assert outcome.close_code in CLEAN_CLOSES, outcome
    assert sum(o.sent for o in outcomes) > STREAMS * 20
    # every stream, and the honest call, ended with one line saying how
    ended = [r for r in caplog.records if " ended after " in r.getMessage()]
    assert len(ended) == STREAMS + 1
    # the honest call went as it did alone, on a sidecar nobody attacked
    assert [t.turn for t in result.turns] == [1, 2]
    assert_undisturbed(result, alone)
