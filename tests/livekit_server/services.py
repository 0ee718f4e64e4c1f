"""The server API the project calls: RoomService, AgentDispatchService and SIP.

Grants are checked as LiveKit checks them (room create/list, room admin of *that* room, SIP
admin/call). Room and dispatch calls act on the live rooms. SIP calls act on an in-memory
store of trunks and dispatch rules that tests can inspect; no SIP leg exists here, so
``CreateSIPParticipant`` fails as unimplemented and ``TransferSIPParticipant`` only checks its
target and succeeds (the call is recorded, the participant stays).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from livekit import api
from livekit.api.access_token import Claims
from livekit.protocol import agent_dispatch as dispatch_pb
from livekit.protocol import models
from livekit.protocol import room as room_pb
from livekit.protocol import sip as sip_pb

from . import auth, ids
from .agents import AgentDispatcher
from .participant import Participant
from .room import Room, RoomRegistry
from .twirp import TwirpError, TwirpServer

Reason = models.DisconnectReason


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise auth.permission_denied(f"requires the {what} grant")


def _require_room_admin(claims: Claims, room: str) -> None:
    video = auth.video_grants(claims)
    _require(bool(video.room_admin) and video.room == room, f"roomAdmin grant for room {room!r}")


def _sip_grants(claims: Claims) -> api.SIPGrants:
    return claims.sip if claims.sip is not None else api.SIPGrants()


class RoomService:
    def __init__(self, rooms: RoomRegistry) -> None:
        self.rooms = rooms

    def register(self, twirp: TwirpServer) -> None:
        add = twirp.add
        add("RoomService", "CreateRoom", room_pb.CreateRoomRequest, self.create_room)
        add("RoomService", "ListRooms", room_pb.ListRoomsRequest, self.list_rooms)
        add("RoomService", "DeleteRoom", room_pb.DeleteRoomRequest, self.delete_room)
        add("RoomService", "UpdateRoomMetadata", room_pb.UpdateRoomMetadataRequest, self.metadata)
        add("RoomService", "ListParticipants", room_pb.ListParticipantsRequest, self.participants)
        add("RoomService", "GetParticipant", room_pb.RoomParticipantIdentity, self.participant)
        add("RoomService", "RemoveParticipant", room_pb.RoomParticipantIdentity, self.remove)
        add("RoomService", "UpdateParticipant", room_pb.UpdateParticipantRequest, self.update)
        add("RoomService", "SendData", room_pb.SendDataRequest, self.send_data)

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            raise TwirpError("not_found", f"room {name!r} does not exist")
        return room

    def _member(self, name: str, identity: str) -> tuple[Room, Participant]:
        room = self._room(name)
        participant = room.get(identity)
        if participant is None:
            raise TwirpError("not_found", f"participant {identity!r} is not in room {name!r}")
        return room, participant

    async def create_room(self, req: room_pb.CreateRoomRequest, claims: Claims) -> models.Room:
        _require(bool(auth.video_grants(claims).room_create), "roomCreate")
        if not req.name:
            raise TwirpError("invalid_argument", "room name is required")
        config = room_pb.RoomConfiguration(
            empty_timeout=req.empty_timeout,
            departure_timeout=req.departure_timeout,
            max_participants=req.max_participants,
            metadata=req.metadata,
            agents=req.agents,
        )
        return self.rooms.get_or_create(req.name, self.rooms.settings(config)).info()

    async def list_rooms(
        self, req: room_pb.ListRoomsRequest, claims: Claims
    ) -> room_pb.ListRoomsResponse:
        _require(bool(auth.video_grants(claims).room_list), "roomList")
        names = set(req.names)
        rooms = [r.info() for r in self.rooms.rooms.values() if not names or r.name in names]
        return room_pb.ListRoomsResponse(rooms=rooms)

    async def delete_room(
        self, req: room_pb.DeleteRoomRequest, claims: Claims
    ) -> room_pb.DeleteRoomResponse:
        _require(bool(auth.video_grants(claims).room_create), "roomCreate")
        if not self.rooms.delete(req.room):
            raise TwirpError("not_found", f"room {req.room!r} does not exist")
        return room_pb.DeleteRoomResponse()

    async def metadata(self, req: room_pb.UpdateRoomMetadataRequest, claims: Claims) -> models.Room:
        _require_room_admin(claims, req.room)
        room = self._room(req.room)
        room.set_metadata(req.metadata)
        return room.info()

    async def participants(
        self, req: room_pb.ListParticipantsRequest, claims: Claims
    ) -> room_pb.ListParticipantsResponse:
        _require_room_admin(claims, req.room)
        room = self._room(req.room)
        return room_pb.ListParticipantsResponse(
            participants=[p.info() for p in room.participants.values()]
        )

    async def participant(
        self, req: room_pb.RoomParticipantIdentity, claims: Claims
    ) -> models.ParticipantInfo:
        _require_room_admin(claims, req.room)
        _, participant = self._member(req.room, req.identity)
        return participant.info()

    async def remove(
        self, req: room_pb.RoomParticipantIdentity, claims: Claims
    ) -> room_pb.RemoveParticipantResponse:
        _require_room_admin(claims, req.room)
        room, participant = self._member(req.room, req.identity)
        room.remove(participant, Reason.PARTICIPANT_REMOVED)
        return room_pb.RemoveParticipantResponse()

    async def update(
        self, req: room_pb.UpdateParticipantRequest, claims: Claims
    ) -> models.ParticipantInfo:
        _require_room_admin(claims, req.room)
        room, participant = self._member(req.room, req.identity)
        if req.HasField("permission"):
            participant.permission = req.permission
        room.update_participant(
            participant, name=req.name, metadata=req.metadata, attributes=dict(req.attributes)
        )
        return participant.info()

    async def send_data(
        self, req: room_pb.SendDataRequest, claims: Claims
    ) -> room_pb.SendDataResponse:
        _require_room_admin(claims, req.room)
        room = self._room(req.room)
        packet = models.DataPacket(
            kind=req.kind,
            destination_identities=req.destination_identities,
            user=models.UserPacket(
                payload=req.data,
                topic=req.topic if req.HasField("topic") else None,
                nonce=req.nonce,
                destination_sids=req.destination_sids,
                destination_identities=req.destination_identities,
            ),
        )
        room.forward_data(None, packet, req.kind)
        return room_pb.SendDataResponse()


class AgentDispatchService:
    def __init__(self, rooms: RoomRegistry, dispatcher: AgentDispatcher) -> None:
        self.rooms = rooms
        self.dispatcher = dispatcher

    def register(self, twirp: TwirpServer) -> None:
        service = "AgentDispatchService"
        twirp.add(service, "CreateDispatch", dispatch_pb.CreateAgentDispatchRequest, self.create)
        twirp.add(service, "ListDispatch", dispatch_pb.ListAgentDispatchRequest, self.list)
        twirp.add(service, "DeleteDispatch", dispatch_pb.DeleteAgentDispatchRequest, self.delete)

    async def create(
        self, req: dispatch_pb.CreateAgentDispatchRequest, claims: Claims
    ) -> dispatch_pb.AgentDispatch:
        """Like LiveKit, dispatching into a room that does not exist yet creates it."""
        _require_room_admin(claims, req.room)
        room = self.rooms.get_or_create(req.room, self.rooms.settings())
        return self.dispatcher.create_dispatch(
            room, agent_name=req.agent_name, metadata=req.metadata, attributes=dict(req.attributes)
        )

    async def list(
        self, req: dispatch_pb.ListAgentDispatchRequest, claims: Claims
    ) -> dispatch_pb.ListAgentDispatchResponse:
        _require_room_admin(claims, req.room)
        return dispatch_pb.ListAgentDispatchResponse(
            agent_dispatches=self.dispatcher.list_dispatches(req.room, req.dispatch_id)
        )

    async def delete(
        self, req: dispatch_pb.DeleteAgentDispatchRequest, claims: Claims
    ) -> dispatch_pb.AgentDispatch:
        _require_room_admin(claims, req.room)
        deleted = self.dispatcher.delete_dispatch(req.room, req.dispatch_id)
        if deleted is None:
            raise TwirpError("not_found", f"dispatch {req.dispatch_id!r} not found")
        return deleted


Trunk = TypeVar("Trunk", sip_pb.SIPInboundTrunkInfo, sip_pb.SIPOutboundTrunkInfo)


def _store_trunk(requested: Trunk, store: dict[str, Trunk]) -> Trunk:
    trunk = type(requested)()
    trunk.CopyFrom(requested)
    trunk.sip_trunk_id = ids.new_id(ids.SIP_TRUNK)
    trunk.created_at.FromNanoseconds(time.time_ns())
    store[trunk.sip_trunk_id] = trunk
    return trunk


def _matching(store: dict[str, Trunk], ids_: Iterable[str], numbers: Iterable[str]) -> list[Trunk]:
    """Trunks filtered like LiveKit's List calls: by id, then by number; empty means all."""
    wanted_ids, wanted_numbers = set(ids_), set(numbers)
    return [
        t
        for t in store.values()
        if (not wanted_ids or t.sip_trunk_id in wanted_ids)
        and (not wanted_numbers or wanted_numbers & set(t.numbers))
    ]


@dataclass
class SipStore:
    """What SIP provisioning created, by id; tests read it directly."""

    inbound_trunks: dict[str, sip_pb.SIPInboundTrunkInfo] = field(default_factory=dict)
    outbound_trunks: dict[str, sip_pb.SIPOutboundTrunkInfo] = field(default_factory=dict)
    dispatch_rules: dict[str, sip_pb.SIPDispatchRuleInfo] = field(default_factory=dict)


class SipService:
    def __init__(self, rooms: RoomRegistry, store: SipStore) -> None:
        self.rooms = rooms
        self.store = store

    def register(self, twirp: TwirpServer) -> None:
        add = twirp.add
        add("SIP", "CreateSIPInboundTrunk", sip_pb.CreateSIPInboundTrunkRequest, self.inbound)
        add("SIP", "CreateSIPOutboundTrunk", sip_pb.CreateSIPOutboundTrunkRequest, self.outbound)
        add("SIP", "ListSIPInboundTrunk", sip_pb.ListSIPInboundTrunkRequest, self.list_inbound)
        add("SIP", "ListSIPOutboundTrunk", sip_pb.ListSIPOutboundTrunkRequest, self.list_outbound)
        add("SIP", "DeleteSIPTrunk", sip_pb.DeleteSIPTrunkRequest, self.delete_trunk)
        add("SIP", "CreateSIPDispatchRule", sip_pb.CreateSIPDispatchRuleRequest, self.rule)
        add("SIP", "ListSIPDispatchRule", sip_pb.ListSIPDispatchRuleRequest, self.list_rules)
        add("SIP", "DeleteSIPDispatchRule", sip_pb.DeleteSIPDispatchRuleRequest, self.delete_rule)
        add("SIP", "CreateSIPParticipant", sip_pb.CreateSIPParticipantRequest, self.dial)
        add("SIP", "TransferSIPParticipant", sip_pb.TransferSIPParticipantRequest, self.transfer)

    @staticmethod
    def _admin(claims: Claims) -> None:
        _require(_sip_grants(claims).admin, "sip.admin")

    async def inbound(
        self, req: sip_pb.CreateSIPInboundTrunkRequest, claims: Claims
    ) -> sip_pb.SIPInboundTrunkInfo:
        self._admin(claims)
        return _store_trunk(req.trunk, self.store.inbound_trunks)

    async def outbound(
        self, req: sip_pb.CreateSIPOutboundTrunkRequest, claims: Claims
    ) -> sip_pb.SIPOutboundTrunkInfo:
        self._admin(claims)
        return _store_trunk(req.trunk, self.store.outbound_trunks)

    async def list_inbound(
        self, req: sip_pb.ListSIPInboundTrunkRequest, claims: Claims
    ) -> sip_pb.ListSIPInboundTrunkResponse:
        self._admin(claims)
        items = _matching(self.store.inbound_trunks, req.trunk_ids, req.numbers)
        return sip_pb.ListSIPInboundTrunkResponse(items=items)

    async def list_outbound(
        self, req: sip_pb.ListSIPOutboundTrunkRequest, claims: Claims
    ) -> sip_pb.ListSIPOutboundTrunkResponse:
        self._admin(claims)
        items = _matching(self.store.outbound_trunks, req.trunk_ids, req.numbers)
        return sip_pb.ListSIPOutboundTrunkResponse(items=items)

    async def delete_trunk(
        self, req: sip_pb.DeleteSIPTrunkRequest, claims: Claims
    ) -> sip_pb.SIPTrunkInfo:
        self._admin(claims)
        kind = sip_pb.SIPTrunkInfo.TrunkKind
        inbound = self.store.inbound_trunks.pop(req.sip_trunk_id, None)
        if inbound is not None:
            return sip_pb.SIPTrunkInfo(
                sip_trunk_id=inbound.sip_trunk_id, kind=kind.TRUNK_INBOUND, name=inbound.name
            )
        outbound = self.store.outbound_trunks.pop(req.sip_trunk_id, None)
        if outbound is not None:
            return sip_pb.SIPTrunkInfo(
                sip_trunk_id=outbound.sip_trunk_id, kind=kind.TRUNK_OUTBOUND, name=outbound.name
            )
        raise TwirpError("not_found", f"trunk {req.sip_trunk_id!r} not found")

    async def rule(
        self, req: sip_pb.CreateSIPDispatchRuleRequest, claims: Claims
    ) -> sip_pb.SIPDispatchRuleInfo:
        """Accepts both the current ``dispatch_rule`` form and the legacy flat fields."""
        self._admin(claims)
        if req.HasField("dispatch_rule"):
            info = sip_pb.SIPDispatchRuleInfo()
            info.CopyFrom(req.dispatch_rule)
        else:
            info = sip_pb.SIPDispatchRuleInfo(
                rule=req.rule,
                trunk_ids=req.trunk_ids,
                hide_phone_number=req.hide_phone_number,
                inbound_numbers=req.inbound_numbers,
                name=req.name,
                metadata=req.metadata,
                attributes=req.attributes,
                room_preset=req.room_preset,
                room_config=req.room_config,
            )
        if not info.HasField("rule"):
            raise TwirpError("invalid_argument", "dispatch rule has no rule")
        info.sip_dispatch_rule_id = ids.new_id(ids.SIP_DISPATCH_RULE)
        info.created_at.FromNanoseconds(time.time_ns())
        self.store.dispatch_rules[info.sip_dispatch_rule_id] = info
        return info

    async def list_rules(
        self, req: sip_pb.ListSIPDispatchRuleRequest, claims: Claims
    ) -> sip_pb.ListSIPDispatchRuleResponse:
        self._admin(claims)
        items = [
            r
            for r in self.store.dispatch_rules.values()
            if (not req.dispatch_rule_ids or r.sip_dispatch_rule_id in req.dispatch_rule_ids)
            and (not req.trunk_ids or set(req.trunk_ids) & set(r.trunk_ids))
        ]
        return sip_pb.ListSIPDispatchRuleResponse(items=items)

    async def delete_rule(
        self, req: sip_pb.DeleteSIPDispatchRuleRequest, claims: Claims
    ) -> sip_pb.SIPDispatchRuleInfo:
        self._admin(claims)
        rule = self.store.dispatch_rules.pop(req.sip_dispatch_rule_id, None)
        if rule is None:
            raise TwirpError("not_found", f"dispatch rule {req.sip_dispatch_rule_id!r} not found")
        return rule

    async def dial(
        self, req: sip_pb.CreateSIPParticipantRequest, claims: Claims
    ) -> sip_pb.SIPParticipantInfo:
        _require(_sip_grants(claims).call, "sip.call")
        raise TwirpError("unimplemented", "this test server places no SIP calls")

    async def transfer(
        self, req: sip_pb.TransferSIPParticipantRequest, claims: Claims
    ) -> sip_pb.TransferSIPParticipantResponse:
        _require(_sip_grants(claims).call, "sip.call")
        _require_room_admin(claims, req.room_name)
        room = self.rooms.get(req.room_name)
        participant = room.get(req.participant_identity) if room is not None else None
        if participant is None:
            raise TwirpError("not_found", f"participant {req.participant_identity!r} not found")
        if participant.kind != models.ParticipantInfo.Kind.SIP:
            raise TwirpError("failed_precondition", "only SIP participants can be transferred")
        if not req.transfer_to:
            raise TwirpError("invalid_argument", "transfer_to is required")
        return sip_pb.TransferSIPParticipantResponse()
