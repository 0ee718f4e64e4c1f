"""The bridge's LiveKit server calls, against the real livekit-server's API (no WebRTC)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from livekit import api

from sip.bridge.rooms import LiveKitError, LiveKitRooms, RoomSettings, rtc_url
from sip.sidecar.backend import CallInfo
from tests.realstack.clients import server_api
from trunkline.config import LiveKitCredentials
from trunkline.stack import LocalStack

SID = "CA" + "d" * 32
ROOM = "twilio-" + SID
SETTINGS = RoomSettings(empty_timeout_s=45, departure_timeout_s=7)


@pytest.fixture
async def rooms(livekit_stack: LocalStack) -> AsyncIterator[LiveKitRooms]:
    credentials = LiveKitCredentials(
        livekit_stack.http_url, livekit_stack.api_key, livekit_stack.api_secret
    )
    async with LiveKitRooms(credentials, "trunkline", SETTINGS) as rooms:
        yield rooms


@pytest.mark.netns
async def test_a_calls_room_comes_with_its_agent_and_nothing_else_and_is_deleted(
    rooms: LiveKitRooms, livekit_stack: LocalStack
) -> None:
    room = f"twilio-CA{uuid.uuid4().hex}"
    await rooms.create_room(room)
    await rooms.create_room(room)  # idempotent, as LiveKit's CreateRoom is
    async with server_api(livekit_stack) as lkapi:
        (created,) = (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
        assert (created.empty_timeout, created.departure_timeout) == (45, 7)
        dispatches = await lkapi.agent_dispatch.list_dispatch(room_name=room)
        # ours by name, once; no dispatch of the project's unnamed agents beside it
        assert [d.agent_name for d in dispatches] == ["trunkline"]
        await rooms.delete_room(room)
        assert not (await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    await rooms.delete_room(room)  # already gone is fine


@pytest.mark.netns
async def test_failures_name_the_step(livekit_stack: LocalStack) -> None:
    wrong = LiveKitCredentials(
        livekit_stack.http_url, livekit_stack.api_key, "not-the-secret-but-as-long-as-one-is"
    )
    async with LiveKitRooms(wrong, "trunkline", SETTINGS) as rooms:
        refused = f"CreateRoom {ROOM}: LiveKit did not accept the API key and secret .*SECRET"
        with pytest.raises(LiveKitError, match=refused):
            await rooms.create_room(ROOM)
        with pytest.raises(LiveKitError, match="DeleteRoom"):
            await rooms.delete_room(ROOM)


@pytest.mark.netns
async def test_the_join_token_carries_the_contracts_identity_attributes_and_grants(
    rooms: LiveKitRooms, livekit_stack: LocalStack
) -> None:
    info = CallInfo(SID, "MZ1", "AC1", from_number="+15550100001", to_number="+15550100002")
    verifier = api.TokenVerifier(livekit_stack.api_key, livekit_stack.api_secret)
    claims = verifier.verify(rooms.join_token(info))
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
