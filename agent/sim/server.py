"""The WebSocket front: ``GET /v1/realtime?model=…`` upgraded to a simulated Realtime session.

Each connection runs a reader (client events into its ``SimSession``) and a writer (its
``Outbox`` onto the socket) as separate tasks, so a client that stops reading only ever stalls
its own writer; when its unsent events pass the bound it is disconnected. Like the service, the
endpoint wants a bearer token (any non-empty one: there is nothing to authenticate against) and
a ``model`` query parameter.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from .options import SimOptions
from .outbox import Outbox
from .protocol import InvalidRequest
from .session import SimSession
from .timing import Clock, LoopClock

logger = logging.getLogger(__name__)

PATH = "/v1/realtime"
#: the largest message accepted (an append may carry 15 MiB of audio, base64-encoded)
MAX_MESSAGE_BYTES = 21 * 1024 * 1024
_CLOSE_TIMEOUT_S = 2.0


@dataclass
class Simulator:
    """Process-wide simulator state: options, the live sessions and their sockets."""

    options: SimOptions
    clock: Clock = field(default_factory=LoopClock)
    sessions: set[SimSession] = field(default_factory=set)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _ordinals: itertools.count[int] = field(default_factory=itertools.count)

    def open_session(self, model: str, outbox: Outbox) -> SimSession:
        """A new session; the n-th one draws its timing from the n-th seeded stream."""
        session = SimSession(
            self.options,
            ordinal=next(self._ordinals),
            model=model,
            emit=outbox.put,
            clock=self.clock,
        )
        self.sessions.add(session)
        return session

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator shutting down")


SIMULATOR = web.AppKey("simulator", Simulator)


def create_app(simulator: Simulator) -> web.Application:
    app = web.Application()
    app[SIMULATOR] = simulator
    app.router.add_get(PATH, _realtime)

    async def on_shutdown(app: web.Application) -> None:
        await app[SIMULATOR].close_all()

    app.on_shutdown.append(on_shutdown)
    return app


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"type": "invalid_request_error", "code": code, "message": message}}
    return web.json_response(body, status=status)


async def _realtime(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIMULATOR]
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not request.headers.get("Authorization", "").startswith("Bearer "):
        return _error(401, "missing_api_key", "Missing bearer authentication in header.")
    model = request.query.get("model", "").strip()
    if not model:
        return _error(400, "missing_model", "Missing required parameter: 'model'.")
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE_BYTES)
    if not ws.can_prepare(request).ok:
        return _error(400, "websocket_required", f"{PATH} speaks WebSocket only.")
    await ws.prepare(request)

    outbox = Outbox(sim.options.max_queued_bytes)
    session = sim.open_session(model, outbox)
    sim.sockets.add(ws)
    session.start()
    writer = asyncio.create_task(outbox.drain_to(ws), name="sim-writer")
    reader = asyncio.create_task(_read(ws, session), name="sim-reader")
    overflow = asyncio.create_task(outbox.overflow.wait(), name="sim-overflow")
    try:
        await asyncio.wait({reader, writer, overflow}, return_when=asyncio.FIRST_COMPLETED)
        if overflow.done():
            logger.warning(
                "closing %s: the client stopped reading (more than %d bytes of events unsent)",
                session.config["id"],
                sim.options.max_queued_bytes,
            )
            await _close(request, ws, WSCloseCode.POLICY_VIOLATION, b"client not reading")
    finally:
        session.close()
        outbox.close()
        for task in (reader, writer, overflow):
            task.cancel()
        await asyncio.gather(reader, writer, overflow, return_exceptions=True)
        if not ws.closed:
            await _close(request, ws, WSCloseCode.OK, b"")
        sim.sessions.discard(session)
        sim.sockets.discard(ws)
        s = session.stats
        logger.info(
            "session %s ended: %d caller turns, %d responses (%d cancelled), %d rejected events",
            session.config["id"],
            s["turns"],
            s["responses"],
            s["cancelled"],
            s["errors"],
        )
    return ws


async def _read(ws: web.WebSocketResponse, session: SimSession) -> None:
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            session.handle(msg.data)
        elif msg.type is WSMsgType.ERROR:
            break
        elif msg.type is WSMsgType.BINARY:
            session.reject(
                InvalidRequest(
                    "Binary frames are not supported; send JSON text.", code="invalid_type"
                )
            )


async def _close(
    request: web.Request, ws: web.WebSocketResponse, code: int, message: bytes
) -> None:
    """Close politely; a peer that cannot even take the close frame is cut off."""
    try:
        await asyncio.wait_for(ws.close(code=code, message=message), _CLOSE_TIMEOUT_S)
    except (TimeoutError, ConnectionError):
        if request.transport is not None:
            request.transport.abort()
