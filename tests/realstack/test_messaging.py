"""Data packets, RPC and SIP DTMF between real SDK participants."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api, rtc

from trunkline.stack import LocalStack

from .clients import Events, joined, participant, server_api

pytestmark = pytest.mark.netns


async def received(events: Events, count: int) -> set[tuple[bytes, str, int, str]]:
    packets = [(await events.next("data_received"))[0] for _ in range(count)]
    return {(p.data, p.topic, p.kind, p.participant.identity) for p in packets}


async def test_reliable_and_lossy_data_with_topics_and_destinations(
    livekit_stack: LocalStack,
) -> None:
    async with (
        joined(livekit_stack, "alice", "data") as alice,
        joined(livekit_stack, "bob", "data") as bob,
        joined(livekit_stack, "carol", "data") as carol,
    ):
        bob_events, carol_events = Events(bob, "data_received"), Events(carol, "data_received")
        local = alice.local_participant
        await local.publish_data(b"to everyone", reliable=True, topic="news")
        await local.publish_data(b"lossy hello", reliable=False, topic="fast")
        await local.publish_data(b"for carol only", destination_identities=["carol"])

        reliable, lossy = rtc.DataPacketKind.KIND_RELIABLE, rtc.DataPacketKind.KIND_LOSSY
        public = {
            (b"to everyone", "news", reliable, "alice"),
            (b"lossy hello", "fast", lossy, "alice"),
        }
        # the lossy channel is unordered with respect to the reliable one: compare as sets
        assert await received(bob_events, 2) == public
        assert await received(carol_events, 3) == {
            *public,
            (b"for carol only", "", reliable, "alice"),
        }
        await asyncio.sleep(0.3)
        assert bob_events.pending("data_received") == 0


async def test_server_api_send_data_reaches_the_named_participant(
    livekit_stack: LocalStack,
) -> None:
    async with (
        joined(livekit_stack, "alice", "api-data") as alice,
        joined(livekit_stack, "bob", "api-data") as bob,
        server_api(livekit_stack) as lkapi,
    ):
        alice_events, bob_events = Events(alice, "data_received"), Events(bob, "data_received")
        await lkapi.room.send_data(
            api.SendDataRequest(
                room="api-data",
                data=b"from the server",
                kind=api.DataPacket.Kind.RELIABLE,
                destination_identities=["bob"],
                topic="ops",
            )
        )
        (packet,) = await bob_events.next("data_received")
        assert (packet.data, packet.topic, packet.participant) == (b"from the server", "ops", None)
        await asyncio.sleep(0.3)
        assert alice_events.pending("data_received") == 0


async def test_rpc_round_trip_and_error(livekit_stack: LocalStack) -> None:
    async with (
        joined(livekit_stack, "caller", "rpc") as caller,
        joined(livekit_stack, "agent", "rpc", kind="agent") as callee,
    ):
        seen: list[tuple[str, str]] = []

        async def reverse(data: rtc.RpcInvocationData) -> str:
            seen.append((data.caller_identity, data.payload))
            return data.payload[::-1]

        async def refuse(data: rtc.RpcInvocationData) -> str:
            raise rtc.RpcError(code=1500, message="not today", data="why")

        callee.local_participant.register_rpc_method("reverse", reverse)
        callee.local_participant.register_rpc_method("refuse", refuse)

        result = await caller.local_participant.perform_rpc(
            destination_identity="agent", method="reverse", payload="trunkline"
        )
        assert result == "enilknurt"
        assert seen == [("caller", "trunkline")]
        with pytest.raises(rtc.RpcError) as refused:
            await caller.local_participant.perform_rpc(
                destination_identity="agent", method="refuse", payload=""
            )
        assert (refused.value.code, refused.value.message) == (1500, "not today")
        with pytest.raises(rtc.RpcError) as unknown:
            await caller.local_participant.perform_rpc(
                destination_identity="agent", method="missing", payload=""
            )
        assert unknown.value.code == rtc.RpcError.ErrorCode.UNSUPPORTED_METHOD


async def test_sip_dtmf_arrives_as_the_sip_dtmf_event(livekit_stack: LocalStack) -> None:
    async with (
        joined(livekit_stack, "agent", "dtmf", kind="agent") as agent,
        joined(livekit_stack, "sip_caller", "dtmf", kind="sip") as caller,
    ):
        events = Events(agent, "sip_dtmf_received")
        await participant(caller, lambda p: p.identity == "agent")
        await participant(agent, lambda p: p.identity == "sip_caller")
        for code, digit in ((1, "1"), (11, "#"), (10, "*")):
            await caller.local_participant.publish_dtmf(code=code, digit=digit)
        received = [(await events.next("sip_dtmf_received"))[0] for _ in range(3)]
        assert [(d.code, d.digit) for d in received] == [(1, "1"), (11, "#"), (10, "*")]
        assert {d.participant.identity for d in received} == {"sip_caller"}


async def test_data_without_the_publish_data_grant_is_dropped(
    livekit_stack: LocalStack,
) -> None:
    muted = api.VideoGrants(room_join=True, can_publish_data=False)
    async with (
        joined(livekit_stack, "listener", "quiet") as listener,
        joined(livekit_stack, "silenced", "quiet", grants=muted) as silenced,
        joined(livekit_stack, "speaker", "quiet") as speaker,
    ):
        events = Events(listener, "data_received")
        await silenced.local_participant.publish_data(b"should not arrive")
        await speaker.local_participant.publish_data(b"arrives")
        (packet,) = await events.next("data_received")
        assert packet.data == b"arrives"
        await asyncio.sleep(0.3)
        assert events.pending("data_received") == 0
