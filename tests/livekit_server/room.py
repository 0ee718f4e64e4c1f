"""Rooms: who is in them, what others are told, which tracks reach whom, when they close.

A room is created by the first join (with the joining token's room configuration) or by the
API, and closes ``departure_timeout`` seconds after its last non-agent participant leaves
(``empty_timeout`` if nobody ever joined), or when it is deleted. Agents do not keep a room
alive, as in LiveKit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from livekit.protocol import agent_dispatch as dispatch_pb
from livekit.protocol import models, rtc
from livekit.protocol import room as room_pb

from . import data, ids
from .media import ReceivedTrack
from .participant import Participant

logger = logging.getLogger(__name__)

Reason = models.DisconnectReason


class RoomError(Exception):
    """A join or request the room refuses."""


@dataclass
class RoomSettings:
    empty_timeout: float
    departure_timeout: float
    max_participants: int = 0
    metadata: str = ""
    agents: list[dispatch_pb.RoomAgentDispatch] = field(default_factory=list)


class RoomObserver(Protocol):
    def room_created(self, room: Room) -> None: ...

    def room_closed(self, room: Room) -> None: ...


class Room:
    def __init__(self, name: str, settings: RoomSettings, expire: Callable[[Room], None]) -> None:
        self.name = name
        self.sid = ids.new_id(ids.ROOM)
        self.settings = settings
        self.metadata = settings.metadata
        self.created_at = time.time()
        self.participants: dict[str, Participant] = {}
        self._closed = asyncio.Event()
        self._expire = expire
        self._ever_joined = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._arm_idle_timer()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def info(self) -> models.Room:
        people = [p for p in self.participants.values() if not p.hidden]
        return models.Room(
            sid=self.sid,
            name=self.name,
            empty_timeout=int(self.settings.empty_timeout),
            departure_timeout=int(self.settings.departure_timeout),
            max_participants=self.settings.max_participants,
            creation_time=int(self.created_at),
            creation_time_ms=int(self.created_at * 1000),
            metadata=self.metadata,
            num_participants=len(people),
            num_publishers=sum(1 for p in people if p.publications),
        )

    def get(self, identity: str) -> Participant | None:
        return self.participants.get(identity)

    def others(self, participant: Participant) -> list[Participant]:
        return [p for p in self.participants.values() if p.sid != participant.sid]

    # --- membership -----------------------------------------------------------------------

    def join(self, participant: Participant) -> None:
        if self.closed:
            raise RoomError(f"room {self.name!r} is closed")
        previous = self.participants.get(participant.identity)
        if previous is not None:
            self.remove(previous, Reason.DUPLICATE_IDENTITY)
        limit = self.settings.max_participants
        if limit and len(self.participants) >= limit:
            raise RoomError(f"room {self.name!r} is full ({limit} participants)")
        self.participants[participant.identity] = participant
        self._ever_joined = True
        self._arm_idle_timer()
        if not participant.hidden:
            update = rtc.SignalResponse(
                update=rtc.ParticipantUpdate(participants=[participant.info()])
            )
            for other in self.others(participant):
                other.send(update)

    def visible_others(self, participant: Participant) -> list[models.ParticipantInfo]:
        return [p.info() for p in self.others(participant) if not p.hidden]

    def activate(self, participant: Participant) -> None:
        if participant.state == models.ParticipantInfo.State.JOINED:
            participant.state = models.ParticipantInfo.State.ACTIVE
            participant.changed()
            self.broadcast(participant)

    def leave(self, participant: Participant, reason: Reason) -> None:
        """Forget a participant whose connection ended; others see it disconnect."""
        if self.participants.get(participant.identity) is not participant:
            return
        del self.participants[participant.identity]
        participant.state = models.ParticipantInfo.State.DISCONNECTED
        participant.disconnect_reason = reason
        participant.changed()
        for track_sid in list(participant.publications):
            for other in self.participants.values():
                other.unsubscribe(track_sid)
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[participant.info()]))
        if not participant.hidden:
            for other in self.participants.values():
                other.send(update)
        self._arm_idle_timer()

    def remove(self, participant: Participant, reason: Reason) -> None:
        """Disconnect a participant from the server side (API, duplicate identity, close)."""
        participant.send(
            rtc.SignalResponse(
                leave=rtc.LeaveRequest(reason=reason, action=rtc.LeaveRequest.Action.DISCONNECT)
            )
        )
        self.leave(participant, reason)
        participant.end_signal()

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self.closed or any(not p.is_agent for p in self.participants.values()):
            return
        delay = (
            self.settings.departure_timeout if self._ever_joined else self.settings.empty_timeout
        )
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(delay, self._expire, self)

    def close(self) -> None:
        """Disconnect everyone; the registry calls this when the room ends."""
        self._closed.set()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for participant in list(self.participants.values()):
            self.remove(participant, Reason.ROOM_DELETED)

    # --- updates --------------------------------------------------------------------------

    def broadcast(self, participant: Participant) -> None:
        """Tell the participant (always) and everyone else (unless hidden) its current state."""
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[participant.info()]))
        for other in self.participants.values():
            if other is participant or not participant.hidden:
                other.send(update)

    def update_participant(
        self,
        participant: Participant,
        *,
        name: str = "",
        metadata: str = "",
        attributes: dict[str, str] | None = None,
    ) -> None:
        """LiveKit's merge rules: empty name/metadata mean unchanged, empty values delete."""
        if name:
            participant.name = name
        if metadata:
            participant.metadata = metadata
        for key, value in (attributes or {}).items():
            if value:
                participant.attributes[key] = value
            else:
                participant.attributes.pop(key, None)
        participant.changed()
        self.broadcast(participant)

    def set_metadata(self, metadata: str) -> None:
        self.metadata = metadata
        update = rtc.SignalResponse(room_update=rtc.RoomUpdate(room=self.info()))
        for participant in self.participants.values():
            participant.send(update)

    # --- media ----------------------------------------------------------------------------

    def tracks_received(self, publisher: Participant, tracks: list[ReceivedTrack]) -> None:
        if self.participants.get(publisher.identity) is not publisher:
            return
        ended, started = publisher.received_tracks(tracks)
        for track_sid in ended:
            for other in self.others(publisher):
                other.unsubscribe(track_sid)
        if ended or started:
            self.broadcast(publisher)
        for publication in started:
            for other in self.others(publisher):
                if other.auto_subscribe and other.permission.can_subscribe:
                    other.subscribe(publisher, publication)

    def set_subscriptions(
        self, subscriber: Participant, track_sids: list[str], subscribe: bool
    ) -> None:
        for track_sid in track_sids:
            if not subscribe:
                subscriber.unsubscribe(track_sid)
                continue
            if not subscriber.permission.can_subscribe:
                continue
            for publisher in self.others(subscriber):
                publication = publisher.publications.get(track_sid)
                if publication is not None:
                    subscriber.subscribe(publisher, publication)

    def subscribe_existing(self, subscriber: Participant) -> None:
        """Auto-subscribe a newcomer to what is already published."""
        if not (subscriber.auto_subscribe and subscriber.permission.can_subscribe):
            return
        for publisher in self.others(subscriber):
            for publication in publisher.publications.values():
                subscriber.subscribe(publisher, publication)

    # --- data -----------------------------------------------------------------------------

    def forward_data(
        self,
        sender: Participant | None,
        packet: models.DataPacket,
        kind: models.DataPacket.Kind,
    ) -> int:
        """Deliver a prepared packet; returns how many participants it was sent to."""
        targets = data.recipients(sender, packet, self.participants.values())
        payload = packet.SerializeToString()
        for target in targets:
            target.send_data(kind, payload)
        return len(targets)


class RoomRegistry:
    """All rooms of the server, by name."""

    def __init__(self, *, empty_timeout: float, departure_timeout: float) -> None:
        self.empty_timeout = empty_timeout
        self.departure_timeout = departure_timeout
        self.rooms: dict[str, Room] = {}
        self.observers: list[RoomObserver] = []

    def settings(self, config: room_pb.RoomConfiguration | None = None) -> RoomSettings:
        """Settings from a room configuration (a token's or the API's), defaults elsewhere."""
        config = config or room_pb.RoomConfiguration()
        return RoomSettings(
            empty_timeout=float(config.empty_timeout or self.empty_timeout),
            departure_timeout=float(config.departure_timeout or self.departure_timeout),
            max_participants=config.max_participants,
            metadata=config.metadata,
            agents=list(config.agents),
        )

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def get_or_create(self, name: str, settings: RoomSettings) -> Room:
        room = self.rooms.get(name)
        if room is not None:
            return room
        room = Room(name, settings, self._expire)
        self.rooms[name] = room
        logger.info("room %s created (%s)", name, room.sid)
        for observer in self.observers:
            observer.room_created(room)
        return room

    def delete(self, name: str) -> bool:
        room = self.rooms.pop(name, None)
        if room is None:
            return False
        room.close()
        logger.info("room %s closed", name)
        for observer in self.observers:
            observer.room_closed(room)
        return True

    def _expire(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            self.delete(room.name)

    def close_all(self) -> None:
        for name in list(self.rooms):
            self.delete(name)
