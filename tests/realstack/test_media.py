"""Audio through the server with the real SDK: tones in, FFT out."""

from __future__ import annotations

import asyncio

import pytest
from livekit import rtc

from trunkline.stack import LocalStack

from .clients import (
    Events,
    Tone,
    dominant_frequency,
    joined,
    record,
    token,
    tone_to_noise_db,
)

pytestmark = pytest.mark.netns

FREQUENCY_TOLERANCE_HZ = 3.0
MIN_TONE_TO_NOISE_DB = 20.0


def assert_tone(samples: object, frequency: float) -> None:
    assert dominant_frequency(samples) == pytest.approx(frequency, abs=FREQUENCY_TOLERANCE_HZ)  # type: ignore[arg-type]
    assert tone_to_noise_db(samples, frequency) > MIN_TONE_TO_NOISE_DB  # type: ignore[arg-type]


async def negotiated_codecs(room: rtc.Room) -> set[str]:
    """Mime types libwebrtc reports in use, sending and receiving (livekit-server negotiates
    one peer connection for both, so they all show up among the publisher's stats)."""
    stats = await room.get_rtc_stats()
    return {
        s.codec.codec.mime_type.lower()
        for s in (*stats.publisher_stats, *stats.subscriber_stats)
        if s.WhichOneof("stats") == "codec"
    }


async def test_two_participants_exchange_tones(livekit_stack: LocalStack) -> None:
    async with (
        joined(livekit_stack, "alice", "tones") as alice,
        joined(livekit_stack, "bob", "tones") as bob,
    ):
        alice_events = Events(alice, "track_subscribed")
        bob_events = Events(bob, "track_subscribed")
        low, high = Tone(440.0), Tone(660.0)
        try:
            await low.publish(alice)
            await high.publish(bob)
            at_bob, _, from_alice = await bob_events.next("track_subscribed")
            at_alice, _, from_bob = await alice_events.next("track_subscribed")
            assert (from_alice.identity, from_bob.identity) == ("alice", "bob")
            heard_by_bob, heard_by_alice = await asyncio.gather(
                record(at_bob, 1.0), record(at_alice, 1.0)
            )
            assert await negotiated_codecs(alice) == {"audio/opus"}
        finally:
            await low.aclose()
            await high.aclose()
    assert_tone(heard_by_bob, 440.0)
    assert_tone(heard_by_alice, 660.0)


async def test_a_narrowband_publisher_is_heard_at_48khz(livekit_stack: LocalStack) -> None:
    """What a Twilio bridge does: publish 8 kHz audio; subscribers get 48 kHz Opus."""
    tone = Tone(400.0, sample_rate=8000)
    async with (
        joined(livekit_stack, "bridge", "pstn", kind="sip") as bridge,
        joined(livekit_stack, "agent", "pstn", kind="agent") as agent,
    ):
        events = Events(agent, "track_subscribed")
        try:
            await tone.publish(bridge)
            track, _, participant = await events.next("track_subscribed")
            assert participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
            assert_tone(await record(track, 0.5), 400.0)
        finally:
            await tone.aclose()


async def test_late_joiner_is_subscribed_to_what_is_already_published(
    livekit_stack: LocalStack,
) -> None:
    tone = Tone(500.0)
    async with joined(livekit_stack, "speaker", "late") as speaker:
        try:
            publication = await tone.publish(speaker)
            listener = rtc.Room()
            events = Events(listener, "track_subscribed")
            await listener.connect(livekit_stack.url, token(livekit_stack, "listener", "late"))
            try:
                track, remote_publication, participant = await events.next("track_subscribed")
                assert participant.identity == "speaker"
                assert remote_publication.sid == publication.sid
                assert remote_publication.source == rtc.TrackSource.SOURCE_MICROPHONE
                assert_tone(await record(track, 0.5), 500.0)
            finally:
                await listener.disconnect()
        finally:
            await tone.aclose()


async def test_without_auto_subscribe_nothing_arrives_until_asked(
    livekit_stack: LocalStack,
) -> None:
    tone = Tone(700.0)
    async with (
        joined(livekit_stack, "speaker", "manual") as speaker,
        joined(livekit_stack, "picky", "manual", auto_subscribe=False) as picky,
    ):
        events = Events(picky, "track_published", "track_subscribed")
        try:
            await tone.publish(speaker)
            publication, _ = await events.next("track_published")
            await asyncio.sleep(0.5)
            assert events.pending("track_subscribed") == 0
            publication.set_subscribed(True)
            track, _, _ = await events.next("track_subscribed")
            assert_tone(await record(track, 0.5), 700.0)
        finally:
            await tone.aclose()


async def test_the_publisher_learns_of_the_first_subscription(
    livekit_stack: LocalStack,
) -> None:
    """``wait_for_subscription()`` resolves once someone subscribes (RoomIO waits on it)."""
    tone = Tone(350.0)
    async with (
        joined(livekit_stack, "speaker", "announce") as speaker,
        joined(livekit_stack, "picky", "announce", auto_subscribe=False) as picky,
    ):
        events = Events(picky, "track_published")
        local = Events(speaker, "local_track_subscribed")
        try:
            publication = await tone.publish(speaker)
            remote, _ = await events.next("track_published")
            await asyncio.sleep(0.3)
            assert local.pending("local_track_subscribed") == 0
            remote.set_subscribed(True)
            (track,) = await local.next("local_track_subscribed")
            assert track.sid == publication.sid
            async with asyncio.timeout(1):
                await publication.wait_for_subscription()
        finally:
            await tone.aclose()


async def test_unpublish_and_mute_reach_the_subscriber(livekit_stack: LocalStack) -> None:
    tone = Tone(300.0)
    async with (
        joined(livekit_stack, "speaker", "changes") as speaker,
        joined(livekit_stack, "listener", "changes") as listener,
    ):
        events = Events(listener, "track_subscribed", "track_muted", "track_unpublished")
        try:
            publication = await tone.publish(speaker)
            await events.next("track_subscribed")
            publication.track.mute()  # type: ignore[union-attr]
            _, muted = await events.next("track_muted")
            assert muted.sid == publication.sid
            await speaker.local_participant.unpublish_track(publication.sid)
            gone, _ = await events.next("track_unpublished")
            assert gone.sid == publication.sid
            remote = listener.remote_participants["speaker"]
            assert publication.sid not in remote.track_publications
        finally:
            await tone.aclose()
