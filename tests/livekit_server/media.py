"""The two WebRTC peer connections of a participant (LiveKit's dual-PC mode), via aiortc.

- The *publisher* connection carries what the client sends: the client offers, the server
  answers. Its data channels (``_reliable``, ``_lossy``) carry data both ways: the server
  answers ``subscriber_primary=false``, and the SDK reads packets from these channels too.
- The *subscriber* connection carries what the client receives: the server offers one
  ``sendonly`` section per subscribed track, named ``"<participant sid>|<track sid>"``.

Received audio is decoded by aiortc and re-encoded per subscriber (aiortc cannot forward RTP
untouched); that changes the samples a little and is fine for functional checks. Each
connection runs its signalling operations one at a time in arrival order, so a trickled
candidate is never applied before the description it belongs to, and a slow negotiation
never blocks the signalling loop that feeds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from livekit.protocol import rtc

from . import sdp

logger = logging.getLogger(__name__)

SignalSink = Callable[[rtc.SignalResponse], None]
ErrorSink = Callable[[str], None]
Operation = Callable[[], Awaitable[None]]

ANSWER_TIMEOUT_S = 10.0
RELIABLE_LABEL = "_reliable"
LOSSY_LABEL = "_lossy"


class _Serial:
    """Runs one peer connection's signalling operations one at a time, in order."""

    def __init__(self, on_error: ErrorSink) -> None:
        self._queue: asyncio.Queue[Operation | None] = asyncio.Queue()
        self._on_error = on_error
        self._task = asyncio.create_task(self._run())

    def submit(self, operation: Operation) -> None:
        self._queue.put_nowait(operation)

    async def _run(self) -> None:
        while (operation := await self._queue.get()) is not None:
            try:
                await operation()
            except Exception as exc:
                logger.warning("signalling operation failed", exc_info=True)
                self._on_error(f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Feed:
    """One received track, relayed to any number of subscribers.

    aiortc queues every decoded frame of a received track until someone reads it, so a feed
    always keeps one reader (the drain) and lives as long as the connection that receives it.
    """

    def __init__(self, source: Any) -> None:
        self.kind: str = source.kind
        self._source = source
        self._relay = MediaRelay()
        self._drain = asyncio.create_task(self._consume(self._relay.subscribe(source, False)))

    @staticmethod
    async def _consume(track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    def subscribe(self) -> Any:
        """A new track delivering this feed's frames from now on, without dropping any."""
        return self._relay.subscribe(self._source, True)

    async def close(self) -> None:
        self._drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._drain


class _Transport:
    def __init__(self, target: rtc.SignalTarget, on_error: ErrorSink) -> None:
        self.target = target
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._serial = _Serial(on_error)
        self._on_error = on_error
        self._early: list[Any] = []

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    def add_candidate(self, candidate_init: str) -> None:
        try:
            candidate = sdp.parse_trickle(candidate_init)
        except sdp.SdpError as exc:
            logger.warning("trickle ignored: %s", exc)
            return
        if candidate is not None:
            self._serial.submit(lambda: self._add_candidate(candidate))

    async def _add_candidate(self, candidate: Any) -> None:
        """Hold candidates trickled ahead of the description they belong to (the SDK races)."""
        if self.pc.remoteDescription is None:
            self._early.append(candidate)
        else:
            await self.pc.addIceCandidate(candidate)

    async def _set_remote(self, description: rtc.SessionDescription, kind: str) -> None:
        sdp.check(description.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=description.sdp, type=kind))
        early, self._early = self._early, []
        for candidate in early:
            await self.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        await self._serial.close()
        await self.pc.close()


@dataclass(frozen=True)
class ReceivedTrack:
    """A media section the client currently sends on, and what it carries."""

    mid: str
    cid: str
    feed: Feed


class PublisherTransport(_Transport):
    """Answers the client's offers; reports received tracks and data channel messages."""

    def __init__(
        self,
        *,
        send: SignalSink,
        on_error: ErrorSink,
        on_tracks: Callable[[list[ReceivedTrack]], None],
        on_data: Callable[[str, bytes], None],
        on_connected: Callable[[], None],
    ) -> None:
        super().__init__(rtc.SignalTarget.PUBLISHER, on_error)
        self._send = send
        self._on_tracks = on_tracks
        self._on_data = on_data
        self._feeds: dict[str, Feed] = {}
        self._channels: dict[str, Any] = {}
        self._unsent: dict[str, list[bytes]] = {}
        self.pc.on("datachannel", self._on_datachannel)

        def _on_state() -> None:
            if self.pc.connectionState == "connected":
                on_connected()

        self.pc.on("connectionstatechange", _on_state)

    def _on_datachannel(self, channel: Any) -> None:
        label = str(channel.label)
        self._channels[label] = channel

        def _on_message(message: bytes | str) -> None:
            if isinstance(message, bytes):
                self._on_data(label, message)

        def _on_open() -> None:
            for payload in self._unsent.pop(label, []):
                channel.send(payload)

        channel.on("message", _on_message)
        channel.on("open", _on_open)
        if channel.readyState == "open":
            _on_open()

    def send_data(self, label: str, payload: bytes) -> None:
        """Send on the client's channel; held until the channel opens, like a WebRTC stack."""
        channel = self._channels.get(label)
        if channel is not None and channel.readyState == "open":
            channel.send(payload)
        elif channel is None or channel.readyState == "connecting":
            self._unsent.setdefault(label, []).append(payload)

    def handle_offer(self, offer: rtc.SessionDescription) -> None:
        self._serial.submit(lambda: self._answer(offer))

    async def _answer(self, offer: rtc.SessionDescription) -> None:
        await self._set_remote(offer, "offer")
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self._send(
            rtc.SignalResponse(
                answer=rtc.SessionDescription(
                    type="answer", sdp=self.pc.localDescription.sdp, id=offer.id
                )
            )
        )
        receivers = {t.mid: t.receiver.track for t in self.pc.getTransceivers() if t.mid}
        received: list[ReceivedTrack] = []
        for mid, cid in sdp.sending_tracks(offer.sdp).items():
            source = receivers.get(mid)
            if source is None:
                continue
            if mid not in self._feeds:
                self._feeds[mid] = Feed(source)
            received.append(ReceivedTrack(mid=mid, cid=cid, feed=self._feeds[mid]))
        self._on_tracks(received)

    async def close(self) -> None:
        await super().close()
        for feed in self._feeds.values():
            await feed.close()


class SubscriberTransport(_Transport):
    """Offers the client the tracks it subscribes to; renegotiates when they change."""

    def __init__(self, *, send: SignalSink, on_error: ErrorSink) -> None:
        super().__init__(rtc.SignalTarget.SUBSCRIBER, on_error)
        self._send = send
        self._stream_ids: dict[Any, str] = {}
        self._answer: asyncio.Future[rtc.SessionDescription] | None = None
        self._dirty = False
        self._offer_id = 0

    def add(self, feed: Feed, stream_id: str) -> Any:
        """Start sending ``feed`` as ``stream_id``; returns a handle for :meth:`remove`."""
        transceiver = self.pc.addTransceiver(feed.subscribe(), direction="sendonly")
        self._stream_ids[transceiver] = stream_id
        self._renegotiate()
        return transceiver

    def remove(self, handle: Any) -> None:
        """Stop a section; a later subscription gets a new one (aiortc senders don't restart)."""
        self._stream_ids.pop(handle, None)
        track = handle.sender.track
        handle.sender.replaceTrack(None)
        handle.direction = "inactive"
        if track is not None:
            track.stop()
        self._renegotiate()

    def handle_answer(self, answer: rtc.SessionDescription) -> None:
        if self._answer is None or self._answer.done():
            self._on_error("subscriber answer without a pending offer")
            return
        self._answer.set_result(answer)

    def _renegotiate(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._serial.submit(self._negotiate)

    async def _negotiate(self) -> None:
        self._dirty = False
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        names = {t.mid: name for t, name in self._stream_ids.items() if t.mid is not None}
        self._offer_id += 1
        self._answer = asyncio.get_running_loop().create_future()
        self._send(
            rtc.SignalResponse(
                offer=rtc.SessionDescription(
                    type="offer",
                    sdp=sdp.set_stream_ids(self.pc.localDescription.sdp, names),
                    id=self._offer_id,
                )
            )
        )
        answer = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT_S)
        await self._set_remote(answer, "answer")
