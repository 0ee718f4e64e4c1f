"""Mutated media streams against the real local-mode sidecar, while an honest caller talks.

The hostile peer (``lab.caller.hostile``) sends each stream a spoiled Twilio sequence: renamed
events, dropped and retyped fields, payloads past every limit, UTF-16 and invalid UTF-8, binary
frames, truncated JSON, duplicated, swapped and missing messages, sockets closed half-way —
most streams with a real stream token, so the spoiled messages reach a live agent session. Per
stream: the sidecar closes it with a clean code or drops what it cannot use, and ends it with
exactly one INFO line; never an exception (the log check fails the test on any ERROR line or
task left behind). Meanwhile the honest call goes exactly as it would alone. This is the short
run; ``bench/fuzz_streams.py`` is the long one (10^5 messages).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from agent.model import ModelFactory, ModelSettings
from agent.sim.options import SimOptions
from agent.sim.timing import Chunking, ThinkTime
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.hostile import CLEAN_CLOSES, Mutator, StreamOutcome, hostile_stream
from lab.caller.runner import load_speech
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.local_call import local_backend_factory
from sip.twilio.pacing import Pacing
from tests.waiting import eventually
from trunkline.config import settings_from_env

pytestmark = pytest.mark.slow

STREAMS = 24
CONCURRENT = 4
SEED = 15


@pytest.fixture
async def sidecar() -> AsyncIterator[tuple[str, SidecarState]]:
    options = SimOptions(think=ThinkTime.fixed(300), chunking=Chunking.STEADY)
    settings = settings_from_env({})
    async with ModelFactory(ModelSettings(sim=options)) as factory:
        app = create_app(settings, local_backend_factory(factory, Pacing(), settings))
        server = TestServer(app)
        await server.start_server()
        try:
            yield str(server.make_url("")), app[STATE]
        finally:
            await server.close()


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
    speech = load_speech(default_speech())
    async with aiohttp.ClientSession() as http:
        honest = asyncio.ensure_future(
            SimulatedCaller(CallerOptions(url=url, speech=speech, turns=2), http).run()
        )
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
    # the honest call went as it would alone
    assert [t.turn for t in result.turns] == [1, 2]
    assert all(t.latency_ms is not None and t.gaps == 0 for t in result.turns)
    assert result.cadence.interval_p50_ms == pytest.approx(20, abs=2)
