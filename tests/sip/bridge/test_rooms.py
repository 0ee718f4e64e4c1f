"""The bridge's LiveKit server calls, against the test server's Twirp endpoints (no WebRTC)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit import api

from sip.bridge.rooms import LiveKitError, LiveKitRooms, RoomSettings, rtc_url
from sip.sidecar.backend import CallInfo
from tests.livekit_server.server import LiveKitTestServer
from trunkline.config import LiveKitCredentials

SID = "CA" + "d" * 32
ROOM = "twilio-" + SID
SETTINGS = RoomSettings(empty_timeout_s=45, departure_timeout_s=7)


@pytest.fixture
async def rooms(livekit_server: LiveKitTestServer) -> AsyncIterator[LiveKitRooms]:
    credentials = LiveKitCredentials(livekit_server.http_url, "devkey", "secret")
    async with LiveKitRooms(credentials, "trunkline", SETTINGS) as rooms:
        yield rooms


async def test_create_dispatch_and_delete_a_calls_room(
    rooms: LiveKitRooms, livekit_server: LiveKitTestServer
) -> None:
    await rooms.create_room(ROOM)
    await rooms.create_room(ROOM)  # idempotent, as LiveKit's CreateRoom is
    created = livekit_server.calls("RoomService", "CreateRoom")[0].request
    assert (created.name, created.empty_timeout, created.departure_timeout) == (ROOM, 45, 7)
    dispatch_id = await rooms.dispatch_agent(ROOM)
    (dispatch,) = livekit_server.calls("AgentDispatchService", "CreateDispatch")
    assert (dispatch.request.room, dispatch.request.agent_name) == (ROOM, "trunkline")
    assert dispatch_id.startswith("AD_")
    assert livekit_server.rooms.get(ROOM) is not None
    await rooms.delete_room(ROOM)
    assert livekit_server.rooms.get(ROOM) is None
    await rooms.delete_room(ROOM)  # already gone is fine


async def test_failures_name_the_step(livekit_server: LiveKitTestServer) -> None:
    wrong = LiveKitCredentials(livekit_server.http_url, "devkey", "not-the-secret")
    async with LiveKitRooms(wrong, "trunkline", SETTINGS) as rooms:
        with pytest.raises(LiveKitError, match=f"CreateRoom {ROOM}: unauthenticated"):
            await rooms.create_room(ROOM)
        with pytest.raises(LiveKitError, match="DeleteRoom"):
            await rooms.delete_room(ROOM)


async def test_the_join_token_carries_the_contracts_identity_attributes_and_grants(
    rooms: LiveKitRooms,
) -> None:
    info = CallInfo(SID, "MZ1", "AC1", from_number="+15550100001", to_number="+15550100002")
    claims = api.TokenVerifier("devkey", "secret").verify(rooms.join_token(info))
    assert claims.identity == ROOM and claims.kind == "standard"
    assert claims.attributes == {
        "trunkline.path": "twilio-ws",
        "trunkline.call_sid": SID,
        "trunkline.from": "+15550100001",
        "trunkline.to": "+15550100002",
    }
    video = claims.video
    assert video is not None and video.room == ROOM and video.room_join
    assert video.can_publish and video.can_subscribe and video.can_publish_data
    assert not video.room_admin and not video.room_create


def test_the_sdk_is_given_a_websocket_url_whatever_scheme_livekit_url_uses() -> None:
    assert rtc_url("https://p.livekit.cloud") == "wss://p.livekit.cloud"
    assert rtc_url("http://10.0.0.1:7880") == "ws://10.0.0.1:7880"
    assert rtc_url("wss://p.livekit.cloud") == "wss://p.livekit.cloud"
