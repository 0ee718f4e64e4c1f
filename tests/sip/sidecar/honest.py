"""A local-mode sidecar and an honest caller, for tests that attack one and watch the other.

On virtual time a call is a schedule, so "the honest call was not disturbed" is stated against
a call placed alone on a sidecar nobody attacked (:func:`call_alone`): the same marks, cadence
and lead, no gap, and each turn's latency and audio to the frame. To the frame, not the sample:
livekit's resampler dithers the agent's audio at random, and adaptive playout's stretch of the
same reply then differs by up to a frame from one call to the next (``tests/virtual_time.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.test_utils import TestServer

from agent.model import ModelFactory, ModelSettings
from agent.sim.options import SimOptions
from agent.sim.timing import Chunking, ThinkTime
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.local_call import local_backend_factory
from sip.twilio.pacing import Pacing
from trunkline.config import settings_from_env


@contextlib.asynccontextmanager
async def local_sidecar() -> AsyncIterator[tuple[str, SidecarState]]:
    """The sidecar app with the agent in-process and the simulator as its model."""
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


async def honest_call(url: str, turns: int) -> CallResult:
    speech = load_speech(default_speech())
    async with aiohttp.ClientSession() as http:
        return await SimulatedCaller(CallerOptions(url=url, speech=speech, turns=turns), http).run()


async def call_alone(turns: int) -> CallResult:
    """The same call on a sidecar of its own. The second of two: in a process's first call the
    pacer had three frames of the greeting to send at its first tick, in later ones two (the
    third came with the model's next chunk, 23 ms later), and the caller then heard the
    greeting end a frame sooner; seen, its cause (how the first audio reaches the pacer in
    pieces) not pinned down."""
    async with local_sidecar() as (url, _):
        await honest_call(url, turns)
        return await honest_call(url, turns)


def as_heard(result: CallResult) -> list[tuple[float | None, float, int]]:
    """What the caller lived through, turn by turn: latency, audio heard, gaps."""
    turns = [result.greeting, *result.turns]
    return [(t.latency_ms, t.heard_ms, t.gaps) for t in turns if t is not None]


FRAME_MS = 20.0


def assert_undisturbed(result: CallResult, alone: CallResult) -> None:
    """As alone: each turn's latency and audio to the frame, the cadence and the lead exactly."""
    assert result.hung_up_by == alone.hung_up_by
    heard, heard_alone = as_heard(result), as_heard(alone)
    assert len(heard) == len(heard_alone), (heard, heard_alone)
    for (latency, audio, gaps), (latency_alone, audio_alone, _) in zip(
        heard, heard_alone, strict=True
    ):
        assert gaps == 0, (heard, heard_alone)
        assert abs(audio - audio_alone) <= FRAME_MS, (heard, heard_alone)
        if latency_alone is not None:
            assert latency is not None, (heard, heard_alone)
            assert abs(latency - latency_alone) <= FRAME_MS + 1e-6, (heard, heard_alone)
    # one mark per frame heard, and one per reply's end
    frames = round(sum(audio for _, audio, _ in heard) / FRAME_MS)
    assert result.marks_acked == frames + len(heard), (result.marks_acked, frames)
    assert result.cadence.interval_p50_ms == alone.cadence.interval_p50_ms
    assert result.cadence.buffered_max_ms == alone.cadence.buffered_max_ms == Pacing().lead_ms
