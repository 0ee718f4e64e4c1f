"""A participant as the room sees it: identity and claims, published tracks, subscriptions.

What others learn about a participant is exactly :meth:`Participant.info` (LiveKit's
``ParticipantInfo``): kind and ``sip.*`` attributes come from the token, and every change bumps
``version`` so clients apply updates in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.api.access_token import Claims
from livekit.protocol import models, rtc

from . import auth, ids, sdp
from .media import (
    LOSSY_LABEL,
    RELIABLE_LABEL,
    ErrorSink,
    Feed,
    PublisherTransport,
    ReceivedTrack,
    SubscriberTransport,
)

State = models.ParticipantInfo.State


@dataclass
class Publication:
    info: models.TrackInfo
    cid: str
    mid: str
    feed: Feed
    #: the publisher was told (``TrackSubscribed``) that someone subscribes to this track
    announced: bool = False


class Participant:
    """State of one joined participant plus its signal outbox and its two peer connections."""

    def __init__(self, claims: Claims, *, auto_subscribe: bool) -> None:
        self.sid = ids.new_id(ids.PARTICIPANT)
        self.identity = claims.identity
        self.claims = claims
        self.name = claims.name
        self.metadata = claims.metadata
        self.attributes: dict[str, str] = dict(claims.attributes or {})
        self.kind = auth.participant_kind(claims)
        self.permission = auth.permission(claims)
        self.auto_subscribe = auto_subscribe
        self.state: State = State.JOINED
        self.joined_at_ms = int(time.time() * 1000)
        self.version = 1
        self.disconnect_reason: models.DisconnectReason = models.DisconnectReason.UNKNOWN_REASON
        self.publications: dict[str, Publication] = {}
        self.pending: dict[str, models.TrackInfo] = {}
        self.subscriptions: dict[str, Any] = {}
        self._outbox: asyncio.Queue[rtc.SignalResponse | None] = asyncio.Queue()
        self.publisher: PublisherTransport | None = None
        self.subscriber: SubscriberTransport | None = None

    @property
    def hidden(self) -> bool:
        return self.permission.hidden

    @property
    def is_agent(self) -> bool:
        return self.kind == models.ParticipantInfo.Kind.AGENT

    @property
    def connected(self) -> bool:
        return self.state != State.DISCONNECTED

    def changed(self) -> None:
        self.version += 1

    def info(self) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            state=self.state,
            tracks=[p.info for p in self.publications.values()],
            metadata=self.metadata,
            joined_at=self.joined_at_ms // 1000,
            joined_at_ms=self.joined_at_ms,
            version=self.version,
            permission=self.permission,
            is_publisher=bool(self.publications),
            kind=self.kind,
            attributes=self.attributes,
            disconnect_reason=self.disconnect_reason,
        )

    # --- signal channel -------------------------------------------------------------------

    def send(self, response: rtc.SignalResponse) -> None:
        if self.connected:
            self._outbox.put_nowait(response)

    async def next_outgoing(self) -> rtc.SignalResponse | None:
        """The next message for the client; None once the connection is to be closed."""
        return await self._outbox.get()

    def end_signal(self) -> None:
        self._outbox.put_nowait(None)

    # --- media ----------------------------------------------------------------------------

    def connect_media(
        self,
        *,
        on_error: ErrorSink,
        on_tracks: Callable[[list[ReceivedTrack]], None],
        on_data: Callable[[str, bytes], None],
        on_connected: Callable[[], None],
    ) -> None:
        self.publisher = PublisherTransport(
            send=self.send,
            on_error=on_error,
            on_tracks=on_tracks,
            on_data=on_data,
            on_connected=on_connected,
        )
        self.subscriber = SubscriberTransport(send=self.send, on_error=on_error)

    def received_tracks(self, tracks: list[ReceivedTrack]) -> tuple[list[str], list[Publication]]:
        """Reconcile publications with what the client now sends: (ended sids, new ones)."""
        sending = {(t.mid, t.cid) for t in tracks}
        ended = [sid for sid, p in self.publications.items() if (p.mid, p.cid) not in sending]
        for sid in ended:
            del self.publications[sid]
        started: list[Publication] = []
        for track in tracks:
            info = self.pending.pop(track.cid, None)
            if info is None:
                continue
            info.mid = track.mid
            publication = Publication(info=info, cid=track.cid, mid=track.mid, feed=track.feed)
            self.publications[info.sid] = publication
            started.append(publication)
        if ended or started:
            self.changed()
        return ended, started

    def subscribe(self, publisher: Participant, publication: Publication) -> None:
        sid = publication.info.sid
        if self.subscriber is None or sid in self.subscriptions:
            return
        stream = sdp.stream_id(publisher.sid, sid)
        self.subscriptions[sid] = self.subscriber.add(publication.feed, stream)
        if not publication.announced:
            # as LiveKit does on a track's first subscription; the SDK's
            # ``wait_for_subscription()`` (RoomIO's audio output waits on it) resolves on it
            publication.announced = True
            publisher.send(rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=sid)))

    def unsubscribe(self, track_sid: str) -> None:
        handle = self.subscriptions.pop(track_sid, None)
        if handle is not None and self.subscriber is not None:
            self.subscriber.remove(handle)

    def send_data(self, kind: models.DataPacket.Kind, payload: bytes) -> None:
        if self.publisher is not None and self.connected:
            label = RELIABLE_LABEL if kind == models.DataPacket.Kind.RELIABLE else LOSSY_LABEL
            self.publisher.send_data(label, payload)

    async def close_media(self) -> None:
        for transport in (self.subscriber, self.publisher):
            if transport is not None:
                await transport.close()
