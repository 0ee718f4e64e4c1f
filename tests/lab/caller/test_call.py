"""The simulated Twilio caller keeps Twilio's own promise: sequence numbers in wire order.

The sidecar drops a message whose ``sequenceNumber`` is not after the last one it saw (a
duplicate or a late one), as it must. A caller that numbered a key press and wrote it after
later media would lose the key press to that rule one call in a few, on a loaded machine. Here
a bare stand-in for the sidecar records what arrives, in order, while the caller presses keys
and acknowledges marks from its two tasks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lab.caller import call as call_module
from lab.caller.call import CallerOptions, SimulatedCaller
from sip.twilio import protocol as p
from sip.twilio.twiml import connect_stream
from tests.waiting import eventually

pytestmark = pytest.mark.virtual_time

#: 20 ms of μ-law silence
FRAME = b"\xff" * 160


class StandInSidecar:
    """Answers the webhook, records every stream message, and talks back with media and
    marks so the caller's receiver task acknowledges while its tick loop sends."""

    def __init__(self) -> None:
        self.messages: list[p.InboundMessage] = []
        self.app = web.Application()
        self.app.router.add_post("/twilio/voice", self.voice)
        self.app.router.add_get("/twilio/media", self.media)
        self.url = ""

    async def voice(self, request: web.Request) -> web.Response:
        stream = self.url.replace("http://", "ws://") + "/twilio/media"
        return web.Response(text=connect_stream(stream, {}), content_type="text/xml")

    async def media(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        talker = asyncio.create_task(self._talk(ws))
        try:
            async for msg in ws:
                parsed = p.parse_inbound(msg.data)
                self.messages.append(parsed)
        finally:
            talker.cancel()
        return ws

    async def _talk(self, ws: web.WebSocketResponse) -> None:
        """A greeting, then a mark every few frames, as the sidecar paces its replies."""
        stream_sid = await eventually(
            lambda: next((m.stream_sid for m in self.messages if isinstance(m, p.Start)), "")
        )
        for n in range(100):
            await ws.send_str(p.serialize_outbound(p.OutMedia(stream_sid, FRAME)))
            if n % 3 == 0:
                await ws.send_str(p.serialize_outbound(p.OutMark(stream_sid, f"m{n}")))
            await asyncio.sleep(0.005)


@pytest.fixture
async def sidecar() -> AsyncIterator[StandInSidecar]:
    standin = StandInSidecar()
    server = TestServer(standin.app, host="127.0.0.1")
    await server.start_server()
    standin.url = str(server.make_url("")).rstrip("/")
    try:
        yield standin
    finally:
        await server.close()


class BehindClock:
    """A process that runs behind its schedule: every reading is a little later than the
    last, so the caller's tick loop finds each frame already due and never sleeps. That is
    when a message numbered in one place and written from another task would fall behind."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 0.025
        return self.now

    def time(self) -> float:
        return self.monotonic()


@pytest.mark.parametrize("clock", ["real", "behind"])
async def test_key_presses_and_mark_acks_go_out_in_sequence(
    sidecar: StandInSidecar, clock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if clock == "behind":
        monkeypatch.setattr(call_module, "time", BehindClock())
    options = CallerOptions(
        url=sidecar.url,
        speech=[[FRAME] * 5],
        turns=0,
        dtmf="1234",
        quiet_ms=100,
        greeting_timeout_s=3.0,
        reply_timeout_s=0.3,
        linger_s=0.2,
    )
    async with aiohttp.ClientSession() as http:
        await SimulatedCaller(options, http).run()
    numbered = [m for m in sidecar.messages if not isinstance(m, p.Connected)]
    sequence = [m.sequence_number for m in numbered]
    assert sequence == list(range(1, len(sequence) + 1))
    assert [m.digit for m in numbered if isinstance(m, p.Dtmf)] == list("1234")
    if clock == "real":  # (behind its clock the tick loop never yields to the receiver)
        assert sum(isinstance(m, p.Mark) for m in numbered) > 0
