"""The ``/rtc`` protocol spoken directly (no WebRTC): join, updates, requests, refusals."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from livekit import api
from livekit.protocol import models, rtc

from .server import LiveKitTestServer

Kind = models.ParticipantInfo.Kind
State = models.ParticipantInfo.State


class RawClient:
    """A signalling-only participant: enough to see exactly what the server sends."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, join: rtc.JoinResponse) -> None:
        self.ws = ws
        self.join = join

    async def send(self, request: rtc.SignalRequest) -> None:
        await self.ws.send_bytes(request.SerializeToString())

    async def receive(self, which: str | None = None) -> rtc.SignalResponse:
        """The next message (of kind ``which``, skipping others)."""
        while True:
            message = await self.ws.receive(timeout=5)
            assert message.type == aiohttp.WSMsgType.BINARY, message
            response = rtc.SignalResponse.FromString(message.data)
            if which is None or response.WhichOneof("message") == which:
                return response


@contextlib.asynccontextmanager
async def raw_client(
    server: LiveKitTestServer, identity: str, room: str, **token: Any
) -> AsyncIterator[RawClient]:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"{server.url}/rtc?protocol=16&auto_subscribe=1",
            headers={"Authorization": f"Bearer {server.token(identity, room, **token)}"},
        )
        first = await ws.receive(timeout=5)
        response = rtc.SignalResponse.FromString(first.data)
        assert response.WhichOneof("message") == "join", "the first message must be the join"
        try:
            yield RawClient(ws, response.join)
        finally:
            await ws.close()


async def test_join_response_carries_what_the_sdk_needs(
    livekit_server: LiveKitTestServer,
) -> None:
    attributes = {"sip.phoneNumber": "+15550100"}
    async with (
        raw_client(livekit_server, "caller", "r", kind="sip", attributes=attributes) as first,
        raw_client(livekit_server, "agent", "r", kind="agent") as second,
    ):
        join = second.join
        assert join.participant.sid.startswith("PA_")
        assert (join.participant.identity, join.participant.kind) == ("agent", Kind.AGENT)
        assert join.room.name == "r" and join.room.sid.startswith("RM_")
        assert join.ping_interval > 0 and join.ping_timeout > join.ping_interval
        assert join.server_info.version and not join.subscriber_primary
        (other,) = join.other_participants
        assert (other.identity, other.kind, dict(other.attributes)) == (
            "caller",
            Kind.SIP,
            attributes,
        )
        assert first.join.participant.sid != join.participant.sid


async def test_others_see_joins_and_leaves(livekit_server: LiveKitTestServer) -> None:
    async with raw_client(livekit_server, "stays", "r") as stays:
        async with raw_client(livekit_server, "leaves", "r") as leaves:
            joined = await stays.receive("update")
            assert [p.identity for p in joined.update.participants] == ["leaves"]
            await leaves.send(
                rtc.SignalRequest(
                    leave=rtc.LeaveRequest(reason=models.DisconnectReason.CLIENT_INITIATED)
                )
            )
            left = await stays.receive("update")
        (info,) = left.update.participants
        assert (info.identity, info.state) == ("leaves", State.DISCONNECTED)
        assert info.disconnect_reason == models.DisconnectReason.CLIENT_INITIATED
        assert info.version > joined.update.participants[0].version


async def test_hidden_participants_are_not_shown_to_others(
    livekit_server: LiveKitTestServer,
) -> None:
    hidden = api.VideoGrants(room_join=True, hidden=True)
    async with (
        raw_client(livekit_server, "ghost", "r", kind="agent", grants=hidden) as ghost,
        raw_client(livekit_server, "visible", "r") as visible,
    ):
        assert list(visible.join.other_participants) == []
        seen = (await ghost.receive("update")).update.participants
        assert [p.identity for p in seen] == ["visible"]
        room = livekit_server.rooms.get("r")
        assert room is not None and room.info().num_participants == 1


async def test_ping_is_answered(livekit_server: LiveKitTestServer) -> None:
    async with raw_client(livekit_server, "p", "r") as client:
        await client.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=1234, rtt=5)))
        pong = await client.receive("pong_resp")
        assert pong.pong_resp.last_ping_timestamp == 1234
        assert pong.pong_resp.timestamp > 0
        await client.send(rtc.SignalRequest(ping=99))
        assert (await client.receive("pong")).pong > 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-jwt"}, 401),
    ],
)
async def test_bad_tokens_are_refused_before_the_upgrade(
    livekit_server: LiveKitTestServer, headers: dict[str, str], status: int
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{livekit_server.url}/rtc", headers=headers)
        assert refused.value.status == status


async def test_tokens_need_the_join_grant_and_the_right_secret(
    livekit_server: LiveKitTestServer,
) -> None:
    no_join = (
        api.AccessToken("devkey", "secret")
        .with_identity("x")
        .with_grants(api.VideoGrants(room="r"))
        .to_jwt()
    )
    wrong_secret = (
        api.AccessToken("devkey", "not-the-secret")
        .with_identity("x")
        .with_grants(api.VideoGrants(room_join=True, room="r"))
        .to_jwt()
    )
    good = livekit_server.token("x", "r")
    async with aiohttp.ClientSession() as session:
        for token, status in ((no_join, 401), (wrong_secret, 401), (good, 200)):
            async with session.get(
                f"{livekit_server.http_url}/rtc/validate",
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == status, await response.text()
        async with session.get(f"{livekit_server.http_url}/rtc/v1") as response:
            assert response.status == 404


async def test_metadata_updates_need_permission_and_are_answered(
    livekit_server: LiveKitTestServer,
) -> None:
    plain = api.VideoGrants(room_join=True)
    async with (
        raw_client(livekit_server, "plain", "r", grants=plain) as refused,
        raw_client(livekit_server, "allowed", "r") as allowed,
    ):
        update = rtc.UpdateParticipantMetadata(attributes={"k": "v"}, request_id=7)
        await refused.send(rtc.SignalRequest(update_metadata=update))
        answer = (await refused.receive("request_response")).request_response
        assert (answer.request_id, answer.reason) == (7, rtc.RequestResponse.Reason.NOT_ALLOWED)

        update = rtc.UpdateParticipantMetadata(attributes={"k": "v"}, name="N", request_id=8)
        await allowed.send(rtc.SignalRequest(update_metadata=update))
        first = await allowed.receive()
        assert first.WhichOneof("message") == "update", "state first, then the answer"
        (me,) = first.update.participants
        assert (me.identity, me.name, dict(me.attributes)) == ("allowed", "N", {"k": "v"})
        answer = (await allowed.receive("request_response")).request_response
        assert (answer.request_id, answer.reason) == (8, rtc.RequestResponse.Reason.OK)


async def test_track_requests_are_published_or_refused(livekit_server: LiveKitTestServer) -> None:
    listen_only = api.VideoGrants(room_join=True, can_publish=False)
    async with (
        raw_client(livekit_server, "pub", "r") as publisher,
        raw_client(livekit_server, "quiet", "r", grants=listen_only) as quiet,
    ):
        audio = rtc.AddTrackRequest(cid="mic-1", name="mic", type=models.TrackType.AUDIO)
        await publisher.send(rtc.SignalRequest(add_track=audio))
        published = (await publisher.receive("track_published")).track_published
        assert published.cid == "mic-1"
        assert published.track.sid.startswith("TR_")
        assert published.track.mime_type == "audio/opus"

        video = rtc.AddTrackRequest(cid="cam", name="cam", type=models.TrackType.VIDEO)
        await publisher.send(rtc.SignalRequest(add_track=video))
        answer = (await publisher.receive("request_response")).request_response
        assert answer.reason == rtc.RequestResponse.Reason.UNSUPPORTED_TYPE

        await quiet.send(rtc.SignalRequest(add_track=audio))
        answer = (await quiet.receive("request_response")).request_response
        assert answer.reason == rtc.RequestResponse.Reason.NOT_ALLOWED


async def test_resuming_is_refused_with_a_full_reconnect(
    livekit_server: LiveKitTestServer,
) -> None:
    token = livekit_server.token("resumer", "r")
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"{livekit_server.url}/rtc?reconnect=1&sid=PA_gone",
            headers={"Authorization": f"Bearer {token}"},
        )
        first = rtc.SignalResponse.FromString((await ws.receive(timeout=5)).data)
        assert first.leave.action == rtc.LeaveRequest.Action.RECONNECT
        await ws.close()
    assert livekit_server.rooms.get("r") is None


async def test_a_full_room_refuses_the_join(livekit_server: LiveKitTestServer) -> None:
    settings = livekit_server.rooms.settings(api.RoomConfiguration(max_participants=1))
    livekit_server.rooms.get_or_create("small", settings)
    async with raw_client(livekit_server, "first", "small"), aiohttp.ClientSession() as session:
        token = livekit_server.token("second", "small")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"{livekit_server.url}/rtc", headers={"Authorization": f"Bearer {token}"}
            )
        assert refused.value.status == 403


@pytest.mark.parametrize(
    "request_",
    [
        rtc.SignalRequest(offer=rtc.SessionDescription(type="offer", sdp="not sdp")),
        rtc.SignalRequest(answer=rtc.SessionDescription(type="answer", sdp="unasked")),
    ],
)
async def test_broken_negotiation_closes_only_that_participant(
    livekit_server: LiveKitTestServer, request_: rtc.SignalRequest
) -> None:
    async with (
        raw_client(livekit_server, "bystander", "r") as bystander,
        raw_client(livekit_server, "broken", "r") as broken,
    ):
        await bystander.receive("update")
        await broken.send(request_)
        leave = (await broken.receive("leave")).leave
        assert leave.reason == models.DisconnectReason.MEDIA_FAILURE
        (gone,) = (await bystander.receive("update")).update.participants
        assert (gone.identity, gone.state) == ("broken", State.DISCONNECTED)
        await bystander.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=5)))
        assert (await bystander.receive("pong_resp")).pong_resp.last_ping_timestamp == 5


async def test_garbage_is_ignored_without_dropping_the_connection(
    livekit_server: LiveKitTestServer,
) -> None:
    async with raw_client(livekit_server, "g", "r") as client:
        await client.ws.send_bytes(b"\xff\xfe not protobuf")
        await client.ws.send_str("text frames are not the protocol")
        await client.send(
            rtc.SignalRequest(
                trickle=rtc.TrickleRequest(
                    candidateInit="{not json", target=rtc.SignalTarget.PUBLISHER
                )
            )
        )
        await client.send(rtc.SignalRequest(ping_req=rtc.Ping(timestamp=1)))
        assert (await client.receive("pong_resp")).pong_resp.last_ping_timestamp == 1


async def test_a_duplicate_identity_replaces_the_earlier_connection(
    livekit_server: LiveKitTestServer,
) -> None:
    async with (
        raw_client(livekit_server, "same", "r") as earlier,
        raw_client(livekit_server, "same", "r") as later,
    ):
        leave = (await earlier.receive("leave")).leave
        assert leave.reason == models.DisconnectReason.DUPLICATE_IDENTITY
        assert leave.action == rtc.LeaveRequest.Action.DISCONNECT
        closing = await earlier.ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        room = livekit_server.rooms.get("r")
        assert room is not None
        assert room.participants["same"].sid == later.join.participant.sid
