"""The outbound half of one Twilio media stream.

Frames are handed over by the pacer's shared ticker, which serves every call in the process:
it must never wait on one caller's socket. So sending only enqueues; one writer task per call
drains the queue in order. A peer that stops reading fills the bounded queue and the call is
closed — a stuck caller costs itself its call, never another caller their cadence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import WSCloseCode, web

from sip.twilio.protocol import OutboundMessage, OutClear, OutMark, OutMedia, serialize_outbound

logger = logging.getLogger(__name__)

#: Messages queued for one peer before it counts as not reading (~20 s of 20 ms frames+marks).
MAX_QUEUED = 2000


class TwilioLink:
    """Sends media/mark/clear to one stream and routes echoed marks to whoever listens."""

    def __init__(self, ws: web.WebSocketResponse, stream_sid: str, call_id: str) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.call_id = call_id
        self.sent_media_bytes = 0
        self.stalled = False
        """Closed because the peer stopped reading (its queue filled up)."""
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(MAX_QUEUED)
        self._mark_listeners: list[Callable[[str], None]] = []
        self._closed = asyncio.Event()
        self._writer = asyncio.create_task(self._write(), name=f"twilio-writer-{call_id}")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _put(self, msg: OutboundMessage) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(serialize_outbound(msg))
        except asyncio.QueueFull:
            logger.warning("call %s: peer is not reading; closing the stream", self.call_id)
            self.stalled = True
            self.close_soon(WSCloseCode.POLICY_VIOLATION, "peer not reading")

    def send_media(self, ulaw: bytes) -> None:
        self.sent_media_bytes += len(ulaw)
        self._put(OutMedia(self.stream_sid, ulaw))

    def send_mark(self, name: str) -> None:
        self._put(OutMark(self.stream_sid, name))

    def send_clear(self) -> None:
        self._put(OutClear(self.stream_sid))

    def add_mark_listener(self, listener: Callable[[str], None]) -> None:
        self._mark_listeners.append(listener)

    def mark_received(self, name: str) -> None:
        for listener in self._mark_listeners:
            listener(name)

    async def _write(self) -> None:
        try:
            while (text := await self._queue.get()) is not None:
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:  # peer vanished mid-send
            logger.info("call %s: stream send failed: %s", self.call_id, exc)
        finally:
            self._closed.set()

    def close_soon(self, code: int = WSCloseCode.OK, reason: str = "") -> None:
        """Stop sending and close the socket (from sync code, e.g. a tool or the ticker)."""
        if self.closed:
            return
        self._closed.set()
        self._writer.cancel()
        task = asyncio.ensure_future(self.ws.close(code=code, message=reason.encode()))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def aclose(
        self, code: int = WSCloseCode.OK, reason: str = "", drain: bool = False
    ) -> None:
        """Close the stream; with ``drain`` whatever is queued is sent first (a goodbye)."""
        if drain and not self.closed:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._writer)
        self._closed.set()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.close(code=code, message=reason.encode())
