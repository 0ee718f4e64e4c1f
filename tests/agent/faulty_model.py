"""A model that fails on cue: a Realtime WebSocket proxy in front of the simulator.

The openai plugin talks to it exactly as to the service; it passes every event both ways until
the reply it is told to spoil has sent ``after_deltas`` audio deltas, then does one thing a real
model or network does: drops the socket, answers an ``error`` event, or stops sending while
keeping the socket open; or it never answers the client's ``response.create`` at all. It can
also refuse every connection (a model unreachable at connect).
The time of the fault is recorded so a test can measure how fast the call reacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp import WSMsgType, web

from agent.sim.protocol import server_error_event
from agent.sim.server import PATH


class Fault(enum.Enum):
    NONE = "none"
    REFUSE = "refuse"
    """Every connection is closed right after the upgrade, before any event."""
    DROP = "drop"
    """The socket is cut (no close frame) mid-reply."""
    ERROR = "error"
    """A ``server_error`` event mid-reply; the socket stays up."""
    STALL = "stall"
    """Nothing more is sent mid-reply; the socket stays up."""
    MUTE = "mute"
    """Every ``response.create`` goes unanswered (an overloaded model); the socket stays up."""


@dataclass
class FaultyModel:
    target: str
    """The simulator's base URL (``http://host:port/v1``)."""
    fault: Fault = Fault.NONE
    after_deltas: int = 5
    """Audio deltas of the first reply passed on before the fault."""
    connect_delay_s: float = 0.0
    """How long each connection waits before the upgrade is answered (a slow model)."""
    url: str = ""
    #: wall-clock time (``time.time()``, as log records have it) the fault happened
    faulted_at: float | None = None
    faulted: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    upgraded_at: list[float] = field(default_factory=list)
    """Loop times at which connections were upgraded (after ``connect_delay_s``)."""

    def _fault_now(self) -> None:
        if self.faulted_at is None:
            self.faulted_at = time.time()
            self.faulted.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        await asyncio.sleep(self.connect_delay_s)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.upgraded_at.append(asyncio.get_running_loop().time())
        if self.fault is Fault.REFUSE:
            self._fault_now()
            await ws.close(code=aiohttp.WSCloseCode.TRY_AGAIN_LATER, message=b"refused")
            return ws
        upstream_url = self.target.replace("http", "ws", 1) + request.path_qs[len("/v1") :]
        headers = {"Authorization": request.headers.get("Authorization", "")}
        # the client may be gone at any point (that is what the tests do to it)
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(upstream_url, headers=headers) as upstream,
            ):
                up = asyncio.create_task(self._client_to_model(ws, upstream))
                try:
                    await self._model_to_client(upstream, ws, request)
                finally:
                    up.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await up
        return ws

    async def _client_to_model(
        self, ws: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse
    ) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if self.fault is Fault.MUTE and json.loads(msg.data).get("type") == "response.create":
                self._fault_now()
                continue
            await upstream.send_str(msg.data)
        await upstream.close()

    async def _model_to_client(
        self,
        upstream: aiohttp.ClientWebSocketResponse,
        ws: web.WebSocketResponse,
        request: web.Request,
    ) -> None:
        deltas = 0
        async for msg in upstream:
            if msg.type != WSMsgType.TEXT:
                break
            if self.faulted_at is not None and self.fault is Fault.STALL:
                continue  # stalled: the model says nothing more
            await ws.send_str(msg.data)
            if json.loads(msg.data).get("type") != "response.output_audio.delta":
                continue
            deltas += 1
            if deltas < self.after_deltas or self.faulted_at is not None:
                continue
            if self.fault is Fault.DROP:
                self._fault_now()
                assert request.transport is not None
                request.transport.abort()
                return
            if self.fault is Fault.ERROR:
                self._fault_now()
                await ws.send_str(json.dumps(server_error_event("The server had an error.")))
            elif self.fault is Fault.STALL:
                self._fault_now()
        await ws.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FaultyModel]:
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        try:
            yield self
        finally:
            await runner.cleanup()
