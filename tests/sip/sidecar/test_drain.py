"""Draining: calls in flight run to their end, new calls go to the fallback, readiness says no.

The app and the drain run as ``trunkline serve`` runs them (``drain_calls`` beside the server),
with the signal replaced by ``Draining.begin()``/``force()`` and a recording backend for the
agent; ``test_serve_drain`` does the same through real signals and a real agent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.drain import DRAIN_FALLBACK_TEXT, drain_calls
from sip.sidecar.link import TwilioLink
from sip.sidecar.media_stream import GOODBYE_MARK
from tests.sip.sidecar.test_app import RecordingBackend, media_msg, start_msg, twiml
from tests.waiting import eventually
from trunkline.config import settings_from_env

pytestmark = pytest.mark.virtual_time

#: 200 ms of μ-law "goodbye" (its content does not matter here, its place in the stream does)
GOODBYE = b"\x7f" * 1600
FALLBACK = "https://sidecar-b.example.com/twilio/voice"


@dataclass
class Rig:
    client: TestClient[web.Request, web.Application]
    state: SidecarState
    backends: list[RecordingBackend] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None

    def drain(self, timeout_s: float = 30.0) -> asyncio.Task[None]:
        """What ``trunkline serve`` runs beside the server: returns once the drain is over."""
        self.drainer = asyncio.create_task(
            drain_calls(
                self.state.draining,
                lambda: self.state.calls,
                self.state.tokens.outstanding,
                timeout_s=timeout_s,
                goodbye=self.state.goodbye,
                poll_s=0.01,
            )
        )
        return self.drainer

    async def start_call(self, sid: str) -> aiohttp.ClientWebSocketResponse:
        _, params = await twiml(self.client, sid)
        return await self.open_stream(sid, params)

    async def open_stream(
        self, sid: str, params: dict[str, str]
    ) -> aiohttp.ClientWebSocketResponse:
        ws = await self.client.ws_connect("/twilio/media")
        await ws.send_str(start_msg(sid, params, sid="MZ" + sid))
        await eventually(lambda: any(b.info.call_sid == sid for b in self.backends))
        return ws

    def backend(self, sid: str) -> RecordingBackend:
        return next(b for b in self.backends if b.info.call_sid == sid)

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        resp = await self.client.get(path)
        return resp.status, await resp.json()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    settings = settings_from_env({"TRUNKLINE_FALLBACK_URL": FALLBACK})
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    app = create_app(settings, factory, goodbye=GOODBYE)
    async with TestClient(TestServer(app)) as client:
        r = Rig(client, app[STATE], backends)
        try:
            yield r
        finally:
            if r.drainer is not None:
                r.state.draining.force()
                await asyncio.wait_for(r.drainer, 10)


def stop_msg(sid: str) -> str:
    return json.dumps(
        {
            "event": "stop",
            "sequenceNumber": "9",
            "streamSid": "MZ" + sid,
            "stop": {"accountSid": "AC1", "callSid": sid},
        }
    )


async def caller_hangs_up(ws: aiohttp.ClientWebSocketResponse, sid: str) -> None:
    """Twilio's ``stop``, then the closing handshake the sidecar starts."""
    await ws.send_str(stop_msg(sid))
    await closed(ws)


async def closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read until the sidecar closes the stream; its close message."""
    while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
        pass
    return msg


def ended(reason: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "trunkline_calls_ended_total", {"path": "twilio-ws", "reason": reason}
        )
        or 0.0
    )


async def test_calls_in_flight_run_to_their_end_while_new_calls_get_the_fallback(
    rig: Rig,
) -> None:
    caller_ended, cut_short = ended("caller"), ended("drain_timeout") + ended("shutdown")
    drainer = rig.drain()
    live = await rig.start_call("CA1")
    # a call Twilio was told to stream before the drain began, whose stream is not open yet
    _, announced = await twiml(rig.client, "CA2")
    assert (await rig.get("/readyz"))[0] == 200

    rig.state.draining.begin()
    resp = await rig.client.post("/twilio/voice", data={"CallSid": "CA3"})
    body = await resp.text()
    assert resp.status == 200
    assert f'<Redirect method="POST">{FALLBACK}</Redirect>' in body and "<Stream" not in body
    status, ready = await rig.get("/readyz")
    assert status == 503
    assert ready["checks"] == {"draining": "draining: no new calls", "capacity": "ok"}
    status, health = await rig.get("/healthz")
    assert status == 200 and health["draining"] is True  # alive: do not restart it

    # the live call goes on being served...
    await live.send_str(media_msg(2, np.ones(160, np.int16), 0, sid="MZCA1"))
    await eventually(lambda: rig.backend("CA1").audio)
    # ...and the announced stream is still accepted when it arrives
    late = await rig.open_stream("CA2", announced)
    await asyncio.sleep(0.1)
    assert not drainer.done()

    await caller_hangs_up(live, "CA1")
    await eventually(lambda: rig.backend("CA1").closed == 1)
    assert not drainer.done()  # CA2 is still talking
    await caller_hangs_up(late, "CA2")
    await asyncio.wait_for(drainer, 5)
    assert [b.info.call_sid for b in rig.backends] == ["CA1", "CA2"]  # CA3 never got a stream
    assert all(b.closed == 1 for b in rig.backends)
    assert ended("caller") == caller_ended + 2
    assert ended("drain_timeout") + ended("shutdown") == cut_short  # nobody was cut off


async def test_without_a_fallback_url_new_calls_hear_an_apology() -> None:
    app = create_app(settings_from_env({}), lambda *_: pytest.fail("no call expected"))
    async with TestClient(TestServer(app)) as client:
        app[STATE].draining.begin()
        resp = await client.post("/twilio/voice", data={"CallSid": "CA4"})
        body = await resp.text()
    assert resp.status == 200
    assert f"<Say>{DRAIN_FALLBACK_TEXT}</Say><Hangup />" in body and "<Stream" not in body


async def test_a_drain_waits_for_a_stream_it_announced_that_never_comes_only_as_long_as_its_token(
    rig: Rig,
) -> None:
    now = [1000.0]
    rig.state.tokens.clock = lambda: now[0]
    await twiml(rig.client, "CA5")
    drainer = rig.drain()
    rig.state.draining.begin()
    await asyncio.sleep(0.1)
    assert not drainer.done()
    now[0] += rig.state.tokens.ttl_s + 1  # the token expired: Twilio will not come any more
    await asyncio.wait_for(drainer, 5)


async def test_calls_still_going_at_the_timeout_hear_the_goodbye_then_are_hung_up(
    rig: Rig,
) -> None:
    before = ended("drain_timeout")
    live = await rig.start_call("CA6")
    backend = rig.backend("CA6")
    backend.link.send_media(b"\xff" * 160)  # the agent was talking
    rig.state.draining.begin()
    drainer = rig.drain(timeout_s=0.2)
    seen: list[str] = []
    closed_before_goodbye: bool | None = None
    while True:
        msg = await live.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        event = json.loads(msg.data)
        if event["event"] == "clear":
            closed_before_goodbye = backend.closed == 1
        if event["event"] == "mark":  # played out: say so, as Twilio does
            echo = {"event": "mark", "sequenceNumber": "3", "streamSid": "MZCA6",
                    "mark": {"name": event["mark"]["name"]}}  # fmt: skip
            await live.send_str(json.dumps(echo))
        seen.append(event["event"] if event["event"] != "mark" else event["mark"]["name"])
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1000
    # the agent's audio, then: agent stopped, Twilio's buffer cleared, the goodbye, its mark
    assert seen == ["media", "clear", *["media"] * 10, GOODBYE_MARK]
    assert closed_before_goodbye is True
    await asyncio.wait_for(drainer, 5)
    assert ended("drain_timeout") == before + 1


async def test_a_second_signal_ends_every_call_at_once_even_mid_goodbye(rig: Rig) -> None:
    before = ended("shutdown")
    rig.state.goodbye = b"\x7f" * 8000 * 30  # 30 s: never heard out in this test
    first = await rig.start_call("CA7")
    second = await rig.start_call("CA8")
    rig.state.draining.begin()
    drainer = rig.drain(timeout_s=0.1)
    await eventually(lambda: rig.state.calls and all(c._hung_up for c in rig.state.calls))
    rig.state.draining.force()
    for ws in (first, second):
        assert (await closed(ws)).type == aiohttp.WSMsgType.CLOSE
    await asyncio.wait_for(drainer, 5)
    assert all(b.closed == 1 for b in rig.backends)
    assert ended("shutdown") == before + 2


async def test_a_forced_drain_with_no_goodbye_pending_also_ends_at_once(rig: Rig) -> None:
    live = await rig.start_call("CA9")
    drainer = rig.drain()
    rig.state.draining.signal("SIGTERM")
    await asyncio.sleep(0.05)
    assert not drainer.done() and not live.closed
    rig.state.draining.signal("SIGTERM")
    assert (await closed(live)).type == aiohttp.WSMsgType.CLOSE
    await asyncio.wait_for(drainer, 5)
    assert rig.backend("CA9").closed == 1


async def test_the_drain_state_is_a_metric(rig: Rig) -> None:
    assert REGISTRY.get_sample_value("trunkline_draining") == 0
    rig.state.draining.begin()
    assert REGISTRY.get_sample_value("trunkline_draining") == 1
    text = await (await rig.client.get("/metrics")).text()
    assert "trunkline_draining 1.0" in text
