"""Faults in local mode: whatever fails, the caller is told and the call ends cleanly.

The whole path is real — the sidecar app, the openai plugin in an AgentSession, the pacer, the
simulated Twilio caller — with the model behind a proxy that fails on cue (``faulty_model``):
its socket dropped mid-reply or refused at connect, an ``error`` event, a reply that stalls.
Each must start the spoken apology — at once for a failure the model shows, exactly when the
stall watch's time runs out for one it does not — and the stream must close once the caller
has heard it. They run on virtual time (``tests.virtual_time``), so those instants are stated
exactly, from the log records' own clocks. The caller's own socket dropping without ``stop``
must release the call at once too.
The log check (``tests/logcheck.py``) sees to the rest: no ERROR line but the one a test names,
no task left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from agent.model import ModelFactory, ModelSettings
from agent.sim.embedded import run_simulator
from agent.sim.options import SimOptions
from agent.sim.script import Script
from agent.sim.timing import Chunking, ThinkTime
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from sip.bridge import apology
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.local_call import LocalAgentCall, local_backend_factory
from sip.twilio.pacing import Pacing
from sip.twilio.protocol import SAMPLE_RATE
from tests.agent.faulty_model import Fault, FaultyModel
from tests.waiting import eventually
from trunkline.config import settings_from_env

pytestmark = [pytest.mark.slow, pytest.mark.virtual_time]

SCRIPT = Script(
    greeting="Hello, this is trunkline, and this greeting is long enough to be cut short.",
    turns=(),
    fallback="Nothing more.",
)
SPEECH = load_speech(default_speech())
APOLOGY = apology.render()
APOLOGY_S = len(APOLOGY) / SAMPLE_RATE
#: the stall the tests configure (production: agent.model_watch.DEFAULT_STALL_S)
STALL_S = 0.5
#: the most a release may take (a bound for waiting, not a measure)
REACTION_S = 2.0
FRAME_S = 0.02
#: how long a closing call waits for its session before closing the model's session under it
#: (production: sip.sidecar.local_call.SESSION_CLOSE_S)
SESSION_CLOSE_S = 1.0
#: what the openai plugin itself logs at ERROR when its socket is lost (a real failure): the
#: receive loop's end, then each event already queued that it fails to send before it retries
LOST = r"Error in _recv_task|failed to send event"


@dataclass
class Rig:
    url: str
    model: FaultyModel
    state: SidecarState
    calls: list[LocalAgentCall] = field(default_factory=list)

    async def place(self, **options: object) -> CallResult:
        defaults: dict[str, object] = {"turns": 0, "linger_s": 15.0, "greeting_timeout_s": 15.0}
        async with aiohttp.ClientSession() as http:
            opts = CallerOptions(url=self.url, speech=SPEECH, **{**defaults, **options})  # type: ignore[arg-type]
            return await SimulatedCaller(opts, http).run()


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """``request.param``: the fault, or the fault and the stall watch's timeout."""
    fault, stall_s = request.param if isinstance(request.param, tuple) else (request.param, STALL_S)
    options = SimOptions(think=ThinkTime.fixed(200), chunking=Chunking.STEADY, script=SCRIPT)
    settings = settings_from_env({})
    async with (
        run_simulator(options) as sim,
        FaultyModel(sim.base_url, fault).running() as model,
        ModelFactory(ModelSettings(sim_url=model.url)) as factory,
    ):
        make = local_backend_factory(
            factory,
            Pacing(),
            settings,
            stall_s=stall_s,
            apology_audio=APOLOGY,
            session_close_s=SESSION_CLOSE_S,
        )
        calls: list[LocalAgentCall] = []

        def backend(info: CallInfo, link: TwilioLink, control: CallControl) -> LocalAgentCall:
            call = make(info, link, control)
            assert isinstance(call, LocalAgentCall)
            calls.append(call)
            return call

        app = create_app(settings, backend)
        server = TestServer(app)
        await server.start_server()
        try:
            yield Rig(str(server.make_url("")), model, app[STATE], calls)
        finally:
            await server.close()


def record_time(caplog: pytest.LogCaptureFixture, text: str) -> float:
    (record,) = [r for r in caplog.records if text in r.getMessage()]
    return record.created


async def told_and_ended(
    rig: Rig, caplog: pytest.LogCaptureFixture, *, reaction_s: float = 0.0
) -> str:
    """The call the fault hit: apologised ``reaction_s`` after the fault, closed once heard."""
    caplog.set_level(logging.INFO)
    result = await rig.place()
    await eventually(lambda: rig.state.active_calls == 0, within_s=10)
    assert rig.model.faulted_at is not None
    (call,) = rig.calls
    assert call.failure is not None and call.apologised
    assert result.hung_up_by == "agent" and result.close_code == 1000
    reacted = record_time(caplog, "apologising and hanging up") - rig.model.faulted_at
    ended = record_time(caplog, f"call {result.call_sid} ended after") - rig.model.faulted_at
    assert reacted == pytest.approx(reaction_s, abs=1e-5)  # epoch seconds: float's ulp
    # the stream closes when the apology's end mark comes back: it has all played, and the
    # caller plays on its own 20 ms ticks (up to a frame to the next, a frame to echo it)
    assert 0 <= ended - reacted - APOLOGY_S <= 2 * FRAME_S + 1e-5
    # what the caller heard last is the apology, all of it (it starts with a quiet lead-in)
    assert len(result.heard) >= len(APOLOGY)
    return call.failure


@pytest.mark.expect_log(LOST)
@pytest.mark.parametrize("rig", [Fault.DROP], indirect=True)
async def test_model_socket_dropped_mid_reply(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    failure = await told_and_ended(rig, caplog)
    assert failure.startswith("model connection failed")


@pytest.mark.expect_log(LOST)
@pytest.mark.parametrize("rig", [Fault.REFUSE], indirect=True)
async def test_model_refusing_the_connection(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    failure = await told_and_ended(rig, caplog)
    assert failure.startswith("model connection failed")


@pytest.mark.expect_log("OpenAI Realtime API returned an error")
@pytest.mark.parametrize("rig", [Fault.ERROR], indirect=True)
async def test_model_answering_an_error_event(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    failure = await told_and_ended(rig, caplog)
    assert failure == "model error: The server had an error."


@pytest.mark.parametrize("rig", [Fault.STALL], indirect=True)
async def test_model_stalling_mid_reply(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    # the watch fires on its own clock, exactly as its time runs out
    failure = await told_and_ended(rig, caplog, reaction_s=STALL_S)
    assert failure == f"model stalled: no reply event for {STALL_S:g} s"


@pytest.mark.parametrize("rig", [Fault.NONE], indirect=True)
async def test_twilio_socket_dropping_without_stop_releases_the_call(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    call_sid = "CA" + "d" * 32
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rig.url}/twilio/voice", data={"CallSid": call_sid}) as resp:
            body = await resp.text()
        token = body.split('name="trunkline_stream_token" value="')[1].split('"')[0]
        ws = await http.ws_connect(f"{rig.url}/twilio/media")
        start = {
            "event": "start", "sequenceNumber": "1", "streamSid": "MZdrop",
            "start": {
                "streamSid": "MZdrop", "accountSid": "AC1", "callSid": call_sid,
                "customParameters": {"trunkline_stream_token": token},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }  # fmt: skip
        await ws.send_str(json.dumps(start))
        # mid-greeting: the agent's audio is arriving
        while (msg := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.TEXT:
            if json.loads(msg.data)["event"] == "media":
                break
        await asyncio.sleep(0.3)
        dropped_at = time.time()
        assert ws._response.connection is not None
        ws._response.connection.transport.abort()  # type: ignore[union-attr]
    await eventually(lambda: rig.state.active_calls == 0, within_s=REACTION_S)
    ended = record_time(caplog, f"call {call_sid} ended after")
    assert ended == pytest.approx(dropped_at, abs=1e-5)  # at once
    (call,) = rig.calls
    assert call.failure is None and not call.apologised
    # the model's side was let go too
    await eventually(lambda: rig.model.connections == 1, within_s=1)


@pytest.mark.parametrize("rig", [Fault.MUTE], indirect=True)
async def test_model_never_answering_the_greeting(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    failure = await told_and_ended(rig, caplog, reaction_s=STALL_S)
    assert failure == f"model stalled: no reply event for {STALL_S:g} s"


@pytest.mark.parametrize("rig", [Fault.MUTE], indirect=True)
async def test_the_caller_hanging_up_on_an_unanswered_greeting_releases_the_call(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    result = await rig.place(linger_s=0.0, greeting_timeout_s=STALL_S / 5)
    await eventually(lambda: rig.state.active_calls == 0, within_s=10)
    assert result.hung_up_by == "caller"
    assert [r for r in caplog.records if f"call {result.call_sid} ended after" in r.getMessage()]


@pytest.mark.parametrize("rig", [(Fault.STALL, 60.0)], indirect=True)
async def test_the_caller_hanging_up_during_a_stalled_reply_releases_the_call(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The model stops mid-greeting and says nothing more (a stall its watch has not called
    yet: the pacer fills the caller's line with counted silence), and the caller hangs up.
    The reply never finishes; the call is released at once all the same — the case the soak
    found calls never released in (the bound on the session's close is pinned by
    ``test_session_close.py``)."""
    caplog.set_level(logging.INFO)
    result = await rig.place(linger_s=0.0, greeting_timeout_s=3.0)
    assert rig.model.faulted_at is not None and result.hung_up_by == "caller"
    hung_up_at = result.started_at + result.duration_s
    await eventually(lambda: rig.state.active_calls == 0, within_s=SESSION_CLOSE_S * 2 + 5)
    ended = record_time(caplog, f"call {result.call_sid} ended after")
    assert ended == pytest.approx(hung_up_at, abs=1e-5)  # at once
    (call,) = rig.calls
    assert call.failure is None and not call.apologised
    # the model's side was let go too
    await eventually(lambda: rig.model.connections == 1, within_s=1)
