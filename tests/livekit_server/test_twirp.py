"""The server API through livekit-api (and raw HTTP for what the SDK never sends)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from livekit import api
from livekit.protocol import models, rtc
from livekit.protocol import sip as sip_pb

from .server import LiveKitTestServer
from .test_signalling import raw_client


@pytest.fixture
async def lkapi(livekit_server: LiveKitTestServer) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(livekit_server.http_url, "devkey", "secret") as client:
        yield client


async def test_rooms_are_created_listed_and_deleted(
    livekit_server: LiveKitTestServer, lkapi: api.LiveKitAPI
) -> None:
    room = await lkapi.room.create_room(
        api.CreateRoomRequest(name="made", empty_timeout=60, metadata="meta")
    )
    assert room.sid.startswith("RM_") and room.metadata == "meta"
    again = await lkapi.room.create_room(api.CreateRoomRequest(name="made"))
    assert again.sid == room.sid, "creating an existing room returns it"
    await lkapi.room.create_room(api.CreateRoomRequest(name="other"))
    listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
    assert sorted(r.name for r in listed.rooms) == ["made", "other"]
    only = await lkapi.room.list_rooms(api.ListRoomsRequest(names=["other"]))
    assert [r.name for r in only.rooms] == ["other"]
    await lkapi.room.delete_room(api.DeleteRoomRequest(room="made"))
    assert livekit_server.rooms.get("made") is None
    with pytest.raises(api.TwirpError) as missing:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room="made"))
    assert (missing.value.code, missing.value.status) == ("not_found", 404)
    assert [c.method for c in livekit_server.calls("RoomService")] == [
        "CreateRoom",
        "CreateRoom",
        "CreateRoom",
        "ListRooms",
        "ListRooms",
        "DeleteRoom",
        "DeleteRoom",
    ]


async def test_participants_are_listed_updated_and_removed(
    livekit_server: LiveKitTestServer, lkapi: api.LiveKitAPI
) -> None:
    async with raw_client(livekit_server, "caller", "call", kind="sip") as caller:
        listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room="call"))
        assert [(p.identity, p.kind) for p in listed.participants] == [
            ("caller", models.ParticipantInfo.Kind.SIP)
        ]
        updated = await lkapi.room.update_participant(
            api.UpdateParticipantRequest(
                room="call", identity="caller", attributes={"state": "on-hold"}, metadata="md"
            )
        )
        assert dict(updated.attributes) == {"state": "on-hold"}
        pushed = (await caller.receive("update")).update.participants[0]
        assert (dict(pushed.attributes), pushed.metadata) == ({"state": "on-hold"}, "md")
        await lkapi.room.update_room_metadata(
            api.UpdateRoomMetadataRequest(room="call", metadata="room-md")
        )
        assert (await caller.receive("room_update")).room_update.room.metadata == "room-md"
        await lkapi.room.update_participant(
            api.UpdateParticipantRequest(
                room="call", identity="caller", permission=api.ParticipantPermission()
            )
        )
        mic = rtc.AddTrackRequest(cid="mic", type=models.TrackType.AUDIO)
        await caller.send(rtc.SignalRequest(add_track=mic))
        refused = (await caller.receive("request_response")).request_response
        assert refused.reason == rtc.RequestResponse.Reason.NOT_ALLOWED
        got = await lkapi.room.get_participant(
            api.RoomParticipantIdentity(room="call", identity="caller")
        )
        assert got.sid == caller.join.participant.sid
        await lkapi.room.remove_participant(
            api.RoomParticipantIdentity(room="call", identity="caller")
        )
        leave = (await caller.receive("leave")).leave
        assert leave.reason == models.DisconnectReason.PARTICIPANT_REMOVED
        with pytest.raises(api.TwirpError) as gone:
            await lkapi.room.get_participant(
                api.RoomParticipantIdentity(room="call", identity="caller")
            )
        assert gone.value.code == "not_found"


async def test_sip_provisioning_is_stored_listed_deleted_and_recorded(
    livekit_server: LiveKitTestServer, lkapi: api.LiveKitAPI
) -> None:
    trunk = await lkapi.sip.create_inbound_trunk(
        api.CreateSIPInboundTrunkRequest(
            trunk=api.SIPInboundTrunkInfo(
                name="twilio", numbers=["+15550199"], allowed_addresses=["54.172.60.0/30"]
            )
        )
    )
    assert trunk.sip_trunk_id.startswith("ST_")
    agents = [api.RoomAgentDispatch(agent_name="trunkline")]
    rule = await lkapi.sip.create_dispatch_rule(
        api.CreateSIPDispatchRuleRequest(
            rule=api.SIPDispatchRule(
                dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix="call-")
            ),
            trunk_ids=[trunk.sip_trunk_id],
            name="calls",
            room_config=api.RoomConfiguration(agents=agents),
        )
    )
    assert rule.sip_dispatch_rule_id.startswith("SDR_")
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"

    trunks = await lkapi.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    assert [t.numbers for t in trunks.items] == [["+15550199"]]
    rules = await lkapi.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
    assert [r.room_config.agents[0].agent_name for r in rules.items] == ["trunkline"]

    (call,) = livekit_server.calls("SIP", "CreateSIPDispatchRule")
    assert call.error is None
    assert call.request.trunk_ids == [trunk.sip_trunk_id]
    assert livekit_server.sip.dispatch_rules[rule.sip_dispatch_rule_id].name == "calls"

    await lkapi.sip.delete_dispatch_rule(
        api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
    )
    deleted = await lkapi.sip.delete_trunk(
        api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)
    )
    assert deleted.kind == sip_pb.SIPTrunkInfo.TrunkKind.TRUNK_INBOUND
    assert livekit_server.sip.inbound_trunks == {} and livekit_server.sip.dispatch_rules == {}


async def test_sip_calls_are_recorded_transfer_checked_and_dialing_unavailable(
    livekit_server: LiveKitTestServer, lkapi: api.LiveKitAPI
) -> None:
    async with (
        raw_client(livekit_server, "pstn", "call", kind="sip"),
        raw_client(livekit_server, "browser", "call"),
    ):
        await lkapi.sip.transfer_sip_participant(
            api.TransferSIPParticipantRequest(
                room_name="call", participant_identity="pstn", transfer_to="tel:+15550123"
            )
        )
        with pytest.raises(api.TwirpError) as not_sip:
            await lkapi.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name="call", participant_identity="browser", transfer_to="tel:+1"
                )
            )
        assert not_sip.value.code == "failed_precondition"
    with pytest.raises(api.TwirpError) as dial:
        await lkapi.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id="ST_x", sip_call_to="+15550100", room_name="out"
            )
        )
    assert dial.value.code == "unimplemented"
    transfers = livekit_server.calls("SIP", "TransferSIPParticipant")
    assert [(c.request.transfer_to, c.error is None) for c in transfers] == [
        ("tel:+15550123", True),
        ("tel:+1", False),
    ]


async def test_dispatch_service_creates_the_room_and_lists_and_deletes(
    livekit_server: LiveKitTestServer, lkapi: api.LiveKitAPI
) -> None:
    created = await lkapi.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(agent_name="nobody-yet", room="fresh", metadata="x")
    )
    assert created.id.startswith("AD_") and livekit_server.rooms.get("fresh") is not None
    listed = await lkapi.agent_dispatch.list_dispatch(room_name="fresh")
    assert created.id in [d.id for d in listed]
    await lkapi.agent_dispatch.delete_dispatch(created.id, "fresh")
    with pytest.raises(api.TwirpError) as missing:
        await lkapi.agent_dispatch.delete_dispatch(created.id, "fresh")
    assert missing.value.code == "not_found"


async def post(
    server: LiveKitTestServer, path: str, body: bytes, token: str | None, content_type: str
) -> tuple[int, dict[str, Any]]:
    """Twirp answers JSON to JSON requests, and for every error."""
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.http_url}/twirp/{path}", data=body, headers=headers) as response,
    ):
        assert response.content_type == "application/json"
        return response.status, json.loads(await response.read())


async def test_twirp_errors_are_json_with_the_right_codes(
    livekit_server: LiveKitTestServer,
) -> None:
    create = api.CreateRoomRequest(name="r").SerializeToString()
    path = "livekit.RoomService/CreateRoom"
    joiner = livekit_server.token("someone", "r")
    protobuf = "application/protobuf"
    cases = [
        (path, create, None, protobuf, 401, "unauthenticated"),
        (path, create, joiner, protobuf, 403, "permission_denied"),
        ("livekit.RoomService/Nope", create, joiner, protobuf, 404, "bad_route"),
        (path, b"\xff\xff\xff", joiner, protobuf, 400, "malformed"),
        (path, create, joiner, "text/plain", 404, "bad_route"),
    ]
    for route, body, token, content_type, status, code in cases:
        got_status, got = await post(livekit_server, route, body, token, content_type)
        assert (got_status, got["code"]) == (status, code), route


async def test_twirp_also_speaks_json(livekit_server: LiveKitTestServer) -> None:
    admin = (
        api.AccessToken("devkey", "secret").with_grants(api.VideoGrants(room_create=True)).to_jwt()
    )
    status, body = await post(
        livekit_server,
        "livekit.RoomService/CreateRoom",
        json.dumps({"name": "json-room"}).encode(),
        admin,
        "application/json",
    )
    assert (status, body["name"]) == (200, "json-room")
