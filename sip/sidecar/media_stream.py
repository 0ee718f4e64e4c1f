"""One Twilio media stream, from WebSocket upgrade to cleanup.

Every inbound message goes through the strict parser and the stream sequencer; the call's
backend (agent session or room bridge) is created only after ``start`` carried a valid
one-time stream token. Anything a peer does wrong ends as a logged, dropped message or a
closed stream with a reason — never an exception that escapes into aiohttp or another call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from sip import g711
from sip.sidecar import announce
from sip.sidecar.backend import BackendFactory, CallBackend, CallInfo
from sip.sidecar.link import TwilioLink
from sip.twilio.protocol import (
    Connected,
    Dtmf,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    parse_inbound,
)
from sip.twilio.rest import TwilioCalls
from sip.twilio.security import StreamTokenError, StreamTokens
from sip.twilio.sequencer import StreamSequencer
from sip.twilio.twiml import STREAM_TOKEN_PARAM, dial
from trunkline import metrics
from trunkline.logs import bind_call

logger = logging.getLogger(__name__)

PATH = "twilio-ws"
GOODBYE_MARK = "sidecar:goodbye"


@dataclass
class StreamLimits:
    max_call_seconds: float
    max_message_bytes: int


class MediaStreamCall:
    """Drives one media stream WebSocket until either side ends the call."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        tokens: StreamTokens,
        backend_factory: BackendFactory,
        limits: StreamLimits,
        rest: TwilioCalls | None,
        peer: str,
    ) -> None:
        self.ws = ws
        self.tokens = tokens
        self.backend_factory = backend_factory
        self.limits = limits
        self.rest = rest
        self.peer = peer
        self.sequencer = StreamSequencer()
        self.info: CallInfo | None = None
        self.link: TwilioLink | None = None
        self.backend: CallBackend | None = None
        self.end_reason = "caller hung up"
        self.end_kind: metrics.EndReason = "caller"
        self._backend_task: asyncio.Task[None] | None = None
        self._backend_closing: asyncio.Future[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._hung_up = False
        self._disconnected = False
        self.closed: asyncio.Future[None] | None = None
        """Done once the call's agent, model and stream are released."""

    @property
    def call_id(self) -> str:
        return self.info.call_id if self.info else f"<{self.peer}>"

    async def run(self) -> None:
        """Serve the stream until it ends; the call's resources are then released even if this
        handler is cancelled meanwhile (peer gone, server shutting down): see :attr:`closed`."""
        started = time.monotonic()
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    if not await self._on_text(msg.data):
                        break
                elif msg.type == WSMsgType.BINARY:
                    if not await self._reject(ProtocolError("binary frames are not Twilio's")):
                        break
                else:
                    # aiohttp closed the stream itself; the code the peer answers with replaces
                    # ws.close_code, so the reason is read from the error
                    if getattr(msg.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG:
                        self.end_reason = "message larger than the limit"
                        self.end_kind = "protocol_error"
                        metrics.PROTOCOL_ERRORS.labels("fatal").inc()
                    break
            if self.link is not None and self.link.stalled:
                self.end_reason = "the peer stopped reading"
                self.end_kind = "protocol_error"
        finally:
            self.closed = asyncio.ensure_future(self._close(started))
            await asyncio.shield(self.closed)

    async def _close(self, started: float) -> None:
        await self._cleanup()
        if self.info is not None:
            metrics.CALLS_ACTIVE.labels(PATH).dec()
            metrics.CALLS_ENDED.labels(PATH, self.end_kind).inc()
        logger.info(
            "call %s ended after %.1f s: %s (dropped messages: %d, sequence gaps: %d)",
            self.call_id,
            time.monotonic() - started,
            self.end_reason,
            self.sequencer.stats.dropped,
            self.sequencer.stats.sequence_gaps,
        )

    async def _reject(self, err: ProtocolError, *, counted: bool = False) -> bool:
        """Log a bad message; returns False when the stream has to close."""
        if not counted:
            err = self.sequencer.error(err)
        metrics.PROTOCOL_ERRORS.labels("fatal" if err.fatal else "dropped").inc()
        if err.fatal:
            logger.warning("call %s: closing stream: %s", self.call_id, err.reason)
            self.end_reason = f"protocol error: {err.reason}"
            self.end_kind = "protocol_error"
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=err.reason.encode())
            return False
        logger.info("call %s: dropped message: %s", self.call_id, err.reason)
        return True

    async def _on_text(self, text: str) -> bool:
        try:
            msg = parse_inbound(text)
        except ProtocolError as err:
            return await self._reject(err)
        try:
            fill = self.sequencer.accept(msg)
        except ProtocolError as err:
            return await self._reject(err, counted=True)
        if isinstance(msg, Media):
            if self.backend is not None:
                pcm = g711.decode(msg.payload)
                if fill:
                    pcm = np.concatenate([np.zeros(fill, dtype=np.int16), pcm])
                self.backend.push_audio(pcm)
        elif isinstance(msg, Mark):
            if self.link is not None:
                self.link.mark_received(msg.name)
        elif isinstance(msg, Dtmf):
            logger.info("call %s: DTMF %s", self.call_id, msg.digit)
            if self.backend is not None:
                self.backend.dtmf(msg.digit)
        elif isinstance(msg, Start):
            return await self._on_start(msg)
        elif isinstance(msg, Stop):
            self.end_reason = "stop from Twilio"
            return False
        else:
            assert isinstance(msg, Connected)
        return True

    async def _on_start(self, start: Start) -> bool:
        params = start.custom_parameters
        try:
            self.tokens.redeem(params.get(STREAM_TOKEN_PARAM), start.call_sid)
        except StreamTokenError as err:
            logger.warning("call %s: rejected stream: %s", start.call_sid, err)
            metrics.refused("bad_stream_token")
            self.end_reason = f"rejected: {err}"
            await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"invalid stream token")
            return False
        self.info = CallInfo(
            call_sid=start.call_sid,
            stream_sid=start.stream_sid,
            account_sid=start.account_sid,
            from_number=params.get("From", ""),
            to_number=params.get("To", ""),
            custom_parameters={k: v for k, v in params.items() if k != STREAM_TOKEN_PARAM},
        )
        # from here on every line this call's tasks log (ours and the libraries') names it
        bind_call(call_id=start.call_sid, path=PATH)
        metrics.CALLS.labels(PATH).inc()
        metrics.CALLS_ACTIVE.labels(PATH).inc()
        self.link = TwilioLink(self.ws, start.stream_sid, start.call_sid)
        self.backend = self.backend_factory(self.info, self.link, self)
        self._backend_task = asyncio.create_task(self._start_backend(self.backend))
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(
            self.limits.max_call_seconds,
            lambda: asyncio.ensure_future(
                self._hang_up("call duration limit reached", "duration_limit")
            ),
        )
        logger.info(
            "call %s: stream %s started (from %s to %s)",
            start.call_sid,
            start.stream_sid,
            self.info.from_number or "?",
            self.info.to_number or "?",
        )
        return True

    async def _start_backend(self, backend: CallBackend) -> None:
        try:
            await backend.start()
        except Exception:
            logger.exception("call %s: the agent could not start; ending the call", self.call_id)
            await self.hang_up("agent failed to start", failed=True)

    # --- CallControl ----------------------------------------------------------------------

    async def hang_up(self, reason: str, *, failed: bool = False) -> None:
        """End the call from our side: close the stream (ends <Connect>) and, with
        credentials, complete the call through the REST API. ``failed``: because the agent's
        side failed, not because the agent chose to."""
        await self._hang_up(reason, "failure" if failed else "agent")

    async def end_politely(self, goodbye: bytes, reason: str) -> None:
        """Stop the agent, say ``goodbye`` (8 kHz μ-law) to the caller, then hang up: how a
        drain that ran out of time ends the calls still going."""
        if self._hung_up:
            return
        self._hung_up = True
        self._ended(reason, "drain_timeout")
        await self._close_backend()
        if self.link is not None and goodbye:
            self.link.send_clear()  # whatever of the agent's reply Twilio still holds
            await announce.play(self.link, goodbye, GOODBYE_MARK)
        await self._disconnect(reason)

    async def stop_now(self, reason: str) -> None:
        """Hang up at once, without a goodbye (the process is stopping now); also cuts a
        goodbye short."""
        if self._disconnected:
            return
        if not self._hung_up or self.end_kind == "drain_timeout":
            self._ended(reason, "shutdown")
        self._hung_up = True
        if self.link is not None:
            await self.link.aclose(WSCloseCode.OK, reason)
        await self._disconnect(reason)

    def _ended(self, reason: str, kind: metrics.EndReason) -> None:
        self.end_reason = f"hung up: {reason}"
        self.end_kind = kind
        logger.info("call %s: hanging up (%s)", self.call_id, reason)

    async def _hang_up(self, reason: str, kind: metrics.EndReason) -> None:
        if self._hung_up:
            return
        self._hung_up = True
        self._ended(reason, kind)
        await self._disconnect(reason)

    async def _disconnect(self, reason: str) -> None:
        self._disconnected = True
        if self.link is not None:
            await self.link.aclose(WSCloseCode.OK, reason, drain=True)
        elif not self.ws.closed:
            await self.ws.close(code=WSCloseCode.OK, message=reason.encode())
        if self.rest is not None and self.info is not None:
            try:
                await self.rest.complete(self.info.call_sid)
            except Exception as exc:  # the stream is closed either way
                logger.warning("call %s: REST hang-up failed: %s", self.call_id, exc)

    async def transfer(self, to: str) -> None:
        if self.rest is None or self.info is None:
            raise RuntimeError("transfer needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        await self.rest.redirect(self.info.call_sid, dial(to))

    async def _close_backend(self) -> None:
        """Stop the agent, once; whoever asks again waits for that same release to finish."""
        if self._backend_closing is None:
            self._backend_closing = asyncio.ensure_future(self._release_backend())
        await asyncio.shield(self._backend_closing)

    async def _release_backend(self) -> None:
        """Its start if still under way, then everything it holds."""
        if self._backend_task is not None and not self._backend_task.done():
            self._backend_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._backend_task
        if self.backend is not None:
            try:
                await self.backend.aclose()
            except Exception:
                logger.exception("call %s: error while closing the agent", self.call_id)

    async def _cleanup(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        await self._close_backend()
        if self.link is not None:
            await self.link.aclose()
        elif not self.ws.closed:
            await self.ws.close()
