"""Whatever one peer sends, the other calls on the same sidecar carry on untouched.

A healthy simulated call runs through the real sidecar, agent and simulator while hypothesis
throws generated garbage at the same server on other streams: malformed JSON, wrong types,
out-of-order and duplicate events, bad base64, oversized payloads, binary frames, and valid
``start``s (with real stream tokens) followed by nonsense. The healthy call must complete exactly
as it would alone, and the server must stay up and release every call.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agent.sim.embedded  # noqa: F401 - registers Silero on the main thread, as livekit requires
from agent.model import ModelFactory, ModelSettings
from agent.sim.options import SimOptions
from agent.sim.timing import Chunking, ThinkTime
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from sip.sidecar.app import STATE, create_app
from sip.sidecar.local_call import local_backend_factory
from sip.twilio.pacing import Pacing
from trunkline.config import settings_from_env

pytestmark = pytest.mark.slow

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
anything = json_values | st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
events = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "clear", "x"])


@st.composite
def twilio_shaped(draw: st.DrawFn) -> str:
    """A message with Twilio's shape whose fields are any of right, wrong or missing."""
    msg: dict[str, Any] = {"event": draw(events)}
    for key in ("sequenceNumber", "streamSid"):
        if draw(st.booleans()):
            msg[key] = draw(st.sampled_from(["1", "2", "MZ1", "-4"]) | anything)
    body = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "payload": st.sampled_from(["//8=", "@@", "A" * 20000]) | anything,
                "timestamp": st.sampled_from(["0", "20", "999999999"]) | anything,
                "digit": st.sampled_from(["1", "#", "xx"]) | anything,
                "name": anything,
                "mediaFormat": anything,
                "customParameters": anything,
                "callSid": anything,
            },
        )
    )
    msg[msg["event"]] = body
    return json.dumps(msg)


frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    twilio_shaped(),
    st.binary(max_size=100),
)


class Server:
    """The sidecar with an in-process agent, on its own thread and loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._factory: ModelFactory | None = None

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        options = SimOptions(think=ThinkTime.fixed(300), chunking=Chunking.STEADY)
        self._factory = ModelFactory(ModelSettings(sim=options))
        await self._factory.start()
        settings = settings_from_env({})
        self.app = create_app(settings, local_backend_factory(self._factory, Pacing(), settings))
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._factory is not None:
            await self._factory.aclose()

    def __enter__(self) -> Server:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


async def stream_token(http: aiohttp.ClientSession, url: str, call_sid: str) -> dict[str, str]:
    async with http.post(f"{url}/twilio/voice", data={"CallSid": call_sid}) as resp:
        body = await resp.text()
    token = body.split('name="trunkline_stream_token" value="')[1].split('"')[0]
    return {"trunkline_stream_token": token}


async def attack(url: str, junk: list[str | bytes], with_start: bool, n: int) -> int:
    """Send ``junk`` on a fresh stream (after a valid start if asked); returns /healthz status."""
    async with aiohttp.ClientSession() as http:
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            async with http.ws_connect(f"{url}/twilio/media") as ws:
                if with_start:
                    sid = f"CAjunk{n}"
                    params = await stream_token(http, url, sid)
                    await ws.send_str(
                        json.dumps(
                            {
                                "event": "start", "sequenceNumber": "1", "streamSid": "MZj",
                                "start": {
                                    "streamSid": "MZj", "accountSid": "AC1", "callSid": sid,
                                    "customParameters": params,
                                    "mediaFormat": {"encoding": "audio/x-mulaw",
                                                    "sampleRate": 8000, "channels": 1},
                                },
                            }
                        )
                    )  # fmt: skip
                for frame in junk:
                    if isinstance(frame, bytes):
                        await ws.send_bytes(frame)
                    else:
                        await ws.send_str(frame)
                await asyncio.sleep(0.05)
        async with http.get(f"{url}/healthz") as resp:
            return resp.status


async def healthy_call(url: str) -> CallResult:
    speech = load_speech(default_speech())
    async with aiohttp.ClientSession() as http:
        return await SimulatedCaller(CallerOptions(url=url, speech=speech, turns=3), http).run()


def test_garbage_on_other_streams_never_disturbs_a_call(server: Server) -> None:
    healthy = asyncio.run_coroutine_threadsafe(healthy_call(server.url), server.loop)
    attempts = iter(range(10_000))

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(junk=st.lists(frames, min_size=1, max_size=15), with_start=st.booleans())
    def throw(junk: list[str | bytes], with_start: bool) -> None:
        assert server.run(attack(server.url, junk, with_start, next(attempts))) == 200

    throw()
    result: CallResult = healthy.result(timeout=120)
    assert [t.turn for t in result.turns] == [1, 2, 3]
    assert all(t.latency_ms is not None and t.gaps == 0 for t in result.turns)
    assert result.hung_up_by == "agent"
    assert result.cadence.interval_p50_ms == pytest.approx(20, abs=2)

    async def idle() -> int:
        assert server.app is not None
        state = server.app[STATE]
        for _ in range(200):
            if state.active_calls == 0:
                break
            await asyncio.sleep(0.1)
        return state.active_calls

    assert server.run(idle()) == 0
