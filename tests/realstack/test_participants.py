"""Who is in a room and what others see of them, with the real SDK."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api, rtc

from trunkline.stack import LocalStack

from .clients import Events, identities, join, joined, participant, room_names, server_api

pytestmark = pytest.mark.netns

SIP_ATTRIBUTES = {
    "sip.callID": "SCL_test",
    "sip.phoneNumber": "+15550100",
    "sip.trunkPhoneNumber": "+15550199",
    "sip.callStatus": "active",
}


async def test_kinds_and_sip_attributes_from_tokens_are_visible_to_others(
    livekit_stack: LocalStack,
) -> None:
    async with (
        joined(livekit_stack, "observer", "kinds") as observer,
        joined(livekit_stack, "agent-1", "kinds", kind="agent", name="Agent"),
        joined(livekit_stack, "caller", "kinds", kind="sip", attributes=SIP_ATTRIBUTES),
        joined(livekit_stack, "browser", "kinds", metadata='{"ui":"web"}'),
    ):
        events = Events(observer, "participant_connected")
        while len(observer.remote_participants) < 3:
            await events.next("participant_connected")
        people = observer.remote_participants
        assert people["agent-1"].kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        assert people["agent-1"].name == "Agent"
        assert people["caller"].kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        assert people["caller"].attributes == SIP_ATTRIBUTES
        assert people["browser"].kind == rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
        assert people["browser"].metadata == '{"ui":"web"}'
        assert observer.local_participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD


async def test_attributes_metadata_and_name_round_trip(livekit_stack: LocalStack) -> None:
    async with (
        joined(livekit_stack, "agent", "attrs", kind="agent") as agent,
        joined(livekit_stack, "user", "attrs") as user,
    ):
        events = Events(
            user,
            "participant_attributes_changed",
            "participant_metadata_changed",
            "participant_name_changed",
        )
        own_events = Events(agent, "participant_attributes_changed")
        local = agent.local_participant
        await local.set_attributes({"lk.agent.state": "listening", "mood": "calm"})
        changed, who = await events.next("participant_attributes_changed")
        assert who.identity == "agent"
        assert changed == {"lk.agent.state": "listening", "mood": "calm"}
        _, me = await own_events.next("participant_attributes_changed")
        assert me.identity == "agent", "the server tells the participant its own state too"
        assert local.attributes == {"lk.agent.state": "listening", "mood": "calm"}

        await local.set_attributes({"lk.agent.state": "speaking", "mood": ""})
        changed, _ = await events.next("participant_attributes_changed")
        assert changed == {"lk.agent.state": "speaking", "mood": ""}
        assert user.remote_participants["agent"].attributes == {"lk.agent.state": "speaking"}

        await local.set_metadata("m1")
        participant, old, new = await events.next("participant_metadata_changed")
        assert (participant.identity, old, new) == ("agent", "", "m1")
        await local.set_name("Agent Smith")
        participant, old, new = await events.next("participant_name_changed")
        assert (participant.identity, old, new) == ("agent", "", "Agent Smith")


async def test_attribute_update_without_permission_is_refused(
    livekit_stack: LocalStack,
) -> None:
    grants = api.VideoGrants(room_join=True)
    async with (
        joined(livekit_stack, "plain", "perm", grants=grants) as plain,
        joined(livekit_stack, "watcher", "perm") as watcher,
    ):
        events = Events(watcher, "participant_attributes_changed")
        # livekit-python 1.1.21 returns once the server answers, without surfacing a refusal
        await plain.local_participant.set_attributes({"x": "1"})
        await asyncio.sleep(0.3)
        assert events.pending("participant_attributes_changed") == 0
        assert watcher.remote_participants["plain"].attributes == {}
        assert plain.local_participant.attributes == {}
        async with server_api(livekit_stack) as lkapi:
            seen = await lkapi.room.get_participant(
                api.RoomParticipantIdentity(room="perm", identity="plain")
            )
        assert dict(seen.attributes) == {}


async def test_api_removal_duplicate_identity_and_room_deletion_disconnect_cleanly(
    livekit_stack: LocalStack,
) -> None:
    async with server_api(livekit_stack) as lkapi:
        first = await join(livekit_stack, "dup", "admin")
        first_events = Events(first, "disconnected")
        second = await join(livekit_stack, "dup", "admin")
        (reason,) = await first_events.next("disconnected")
        assert reason == rtc.DisconnectReason.DUPLICATE_IDENTITY

        other = await join(livekit_stack, "other", "admin")
        other_events = Events(other, "participant_disconnected", "disconnected")
        second_events = Events(second, "disconnected")
        await lkapi.room.remove_participant(
            api.RoomParticipantIdentity(room="admin", identity="dup")
        )
        (reason,) = await second_events.next("disconnected")
        assert reason == rtc.DisconnectReason.PARTICIPANT_REMOVED
        (gone,) = await other_events.next("participant_disconnected")
        assert gone.identity == "dup"

        await lkapi.room.delete_room(api.DeleteRoomRequest(room="admin"))
        (reason,) = await other_events.next("disconnected")
        assert reason == rtc.DisconnectReason.ROOM_DELETED
        assert "admin" not in await room_names(livekit_stack)
        for client in (first, second, other):
            await client.disconnect()


async def test_a_leaving_participant_is_forgotten(livekit_stack: LocalStack) -> None:
    stayer = await join(livekit_stack, "stayer", "brief")
    events = Events(stayer, "participant_disconnected")
    leaver = await join(livekit_stack, "leaver", "brief")
    await participant(stayer, lambda p: p.identity == "leaver")
    assert await identities(livekit_stack, "brief") == ["leaver", "stayer"]
    await leaver.disconnect()
    (gone,) = await events.next("participant_disconnected")
    assert gone.identity == "leaver"
    assert await identities(livekit_stack, "brief") == ["stayer"]
    await stayer.disconnect()
