"""The sidecar's aiohttp application: Twilio webhook, media-stream WebSocket, health.

Handlers stay thin: security and capacity checks here, the stream itself in
:class:`MediaStreamCall`, the answering side behind :class:`BackendFactory`. The app factory
takes every dependency explicitly so tests and the two modes (local agent, LiveKit bridge)
assemble the same application.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from sip.sidecar import ops
from sip.sidecar.backend import BackendFactory
from sip.sidecar.drain import DRAIN_FALLBACK_TEXT, Draining
from sip.sidecar.media_stream import MediaStreamCall, StreamLimits
from sip.sidecar.public_url import PublicUrlUnknown, public_base, stream_url
from sip.sidecar.routing import BadPathParameter, Route, route_call, sip_twiml
from sip.sidecar.webform import MalformedRequest, call_sid, caller_text, read_form
from sip.twilio.rest import TwilioCalls
from sip.twilio.security import (
    SIGNATURE_HEADER,
    StreamTokens,
    is_valid_signature,
    public_url_for,
)
from sip.twilio.twiml import STREAM_TOKEN_PARAM, apology, connect_stream, hangup, redirect
from trunkline import metrics
from trunkline.config import Settings
from trunkline.logs import bind_call, call_context

logger = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
MEDIA_PATH = "/twilio/media"
#: How long shutdown waits for calls to release their agents.
SHUTDOWN_GRACE_S = 10.0
BUSY_MESSAGE = "Sorry, all our lines are busy right now. Please call again in a few minutes."
#: Said when no stream URL can be given (see ``public_url``): the fault is ours, not the call's.
UNAVAILABLE_MESSAGE = "Sorry, this service cannot take calls right now. Please try again later."


Admission = Callable[[str], Awaitable[str | None]]
"""Asked with the CallSid before a call is answered: None admits it, a message refuses it
(spoken to the caller before hanging up). Bridge mode checks LiveKit here."""


@dataclass
class SidecarState:
    settings: Settings
    backend_factory: BackendFactory
    tokens: StreamTokens
    rest: TwilioCalls | None
    admission: Admission | None = None
    calls: set[MediaStreamCall] = field(default_factory=set)
    total_calls: int = 0
    draining: Draining = field(default_factory=Draining)
    checks: Sequence[ops.CachedCheck] = ()
    """What a call needs reachable (the model, LiveKit), as ``/readyz`` probes it."""
    goodbye: bytes = b""
    """Said (8 kHz μ-law) to calls a drain has to end; empty: they are just hung up."""

    @property
    def active_calls(self) -> int:
        return len(self.calls)


STATE = web.AppKey("trunkline_sidecar", SidecarState)


def _public_base(request: web.Request, settings: Settings) -> str:
    """The URL Twilio called us at (see ``public_url``); raises :class:`PublicUrlUnknown`."""
    return public_base(request, settings.public_url, settings.trusted_proxies)


def _signature_ok(request: web.Request, state: SidecarState, params: dict[str, str]) -> bool:
    token = state.settings.twilio_auth_token
    if token is None:
        return True
    websocket = request.path == MEDIA_PATH
    url = public_url_for(
        _public_base(request, state.settings), request.path_qs, websocket=websocket
    )
    ok = is_valid_signature(token, url, params, request.headers.get(SIGNATURE_HEADER))
    if not ok:
        metrics.refused("bad_signature")
        logger.warning(
            "rejected %s %s from %s: bad or missing %s",
            request.method,
            request.path,
            request.remote,
            SIGNATURE_HEADER,
        )
    return ok


def _twiml(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/xml")


async def voice_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        params = await read_form(request)
    except MalformedRequest as exc:
        logger.warning("rejected POST %s from %s: %s", request.path, request.remote, exc)
        raise web.HTTPBadRequest(text="expected a UTF-8 form") from None
    if not _signature_ok(request, state, params):
        raise web.HTTPForbidden(text="invalid Twilio signature")
    sid = call_sid(params)
    if sid is None:
        logger.warning("rejected POST %s from %s: no usable CallSid", request.path, request.remote)
        raise web.HTTPBadRequest(text="CallSid is required")
    try:
        route = route_call(state.settings.paths, request.query, params)
    except BadPathParameter as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    with call_context(call_id=sid):
        return await _answer(request, state, sid, params, route)


async def _answer(
    request: web.Request,
    state: SidecarState,
    sid: str,
    params: dict[str, str],
    route: Route | None,
) -> web.Response:
    if route is None:  # the sip leg was answered and is over: so is the call
        logger.info("call %s: the sip leg ended; hanging up", sid)
        return _twiml(hangup())
    if state.draining.draining:
        metrics.refused("draining")
        fallback = state.settings.drain.fallback_url
        logger.info("call %s: draining, handed to %s", sid, fallback or "an apology")
        return _twiml(redirect(fallback) if fallback else apology(DRAIN_FALLBACK_TEXT))
    bind_call(path=route.path)
    if route.path == "sip":
        metrics.CALLS_ROUTED.labels(route.path, route.why).inc()
        logger.info("call %s: sip path (%s): dialling LiveKit SIP", sid, route.why)
        return _twiml(sip_twiml(state.settings.paths, sid, params))
    if state.active_calls >= state.settings.limits.max_calls:
        metrics.refused("busy")
        logger.warning("call %s: refused, %d calls active (limit)", sid, state.active_calls)
        return _twiml(apology(BUSY_MESSAGE))
    try:
        base = _public_base(request, state.settings)
    except PublicUrlUnknown as exc:
        metrics.refused("public_url_unknown")
        logger.warning("call %s: refused: %s", sid, exc)
        return _twiml(apology(UNAVAILABLE_MESSAGE))
    if state.admission is not None:
        refusal = await state.admission(sid)
        if refusal is not None:
            metrics.refused("livekit_unavailable")
            return _twiml(apology(refusal))
    url = stream_url(base, MEDIA_PATH)
    parameters = {
        "CallSid": sid,
        "From": caller_text(params.get("From", "")),
        "To": caller_text(params.get("To", "")),
        STREAM_TOKEN_PARAM: state.tokens.issue(sid),
    }
    metrics.CALLS_ROUTED.labels(route.path, route.why).inc()
    logger.info("call %s: answering with a media stream to %s", sid, url)
    return _twiml(connect_stream(url, parameters))


async def media_stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if not _signature_ok(request, state, {}):
        raise web.HTTPForbidden(text="invalid Twilio signature")
    limits = state.settings.limits
    if state.active_calls >= limits.max_calls:
        raise web.HTTPServiceUnavailable(text="call limit reached")
    ws = web.WebSocketResponse(max_msg_size=limits.max_message_bytes, autoping=True)
    await ws.prepare(request)
    call = MediaStreamCall(
        ws,
        tokens=state.tokens,
        backend_factory=state.backend_factory,
        limits=StreamLimits(limits.max_call_seconds, limits.max_message_bytes),
        rest=state.rest,
        peer=str(request.remote),
    )
    state.calls.add(call)
    state.total_calls += 1
    logger.info("media stream opened from %s; active calls: %d", request.remote, state.active_calls)

    def released(_: object) -> None:
        state.calls.discard(call)
        logger.info("active calls: %d", state.active_calls)

    try:
        await call.run()
    finally:
        if call.closed is None:
            released(None)
        else:
            call.closed.add_done_callback(released)
    return ws


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "mode": state.settings.mode,
            "model": state.settings.model_source,
            "active_calls": state.active_calls,
            "total_calls": state.total_calls,
            "draining": state.draining.draining,
        }
    )


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ready, body = await ops.readiness(
        draining=state.draining.draining,
        active_calls=state.active_calls,
        max_calls=state.settings.limits.max_calls,
        checks=state.checks,
    )
    return web.json_response(body, status=200 if ready else 503)


async def _end_calls(app: web.Application) -> None:
    """On shutdown, hang up every call and wait (bounded) until each has released its agent."""
    state = app[STATE]
    calls = list(state.calls)
    if not calls:
        return
    logger.info("shutting down: ending %d active calls", len(calls))
    await asyncio.gather(*(call.stop_now("server shutting down") for call in calls))
    pending = [c.closed for c in calls if c.closed is not None]
    if pending:
        await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)


def create_app(
    settings: Settings,
    backend_factory: BackendFactory,
    *,
    rest: TwilioCalls | None = None,
    tokens: StreamTokens | None = None,
    admission: Admission | None = None,
    checks: Sequence[ops.CachedCheck] = (),
    goodbye: bytes = b"",
) -> web.Application:
    if settings.twilio_auth_token is None:
        logger.warning(
            "DEV MODE: TWILIO_AUTH_TOKEN is not set — Twilio signatures are NOT checked. "
            "Anyone who can reach this server can place calls. Set it in production."
        )
    secret = settings.stream_secret.encode() if settings.stream_secret else secrets.token_bytes(32)
    app = web.Application(client_max_size=64 * 1024)
    app[STATE] = SidecarState(
        settings=settings,
        backend_factory=backend_factory,
        tokens=tokens or StreamTokens(secret),
        rest=rest,
        admission=admission,
        checks=checks,
        goodbye=goodbye,
    )
    metrics.CALLS_LIMIT.set(settings.limits.max_calls)
    app.on_shutdown.append(_end_calls)
    app.router.add_post(VOICE_PATH, voice_webhook)
    app.router.add_get(MEDIA_PATH, media_stream)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", ops.metrics_endpoint)
    return app
