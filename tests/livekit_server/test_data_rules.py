"""Who receives a data packet and as whose: the server's forwarding rules, without WebRTC."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from livekit.protocol import models

from . import data

Kind = models.DataPacket.Kind


@dataclass
class Peer:
    sid: str
    identity: str
    hidden: bool = False
    is_agent: bool = False


ALICE, BOB, CAROL = Peer("PA_a", "alice"), Peer("PA_b", "bob"), Peer("PA_c", "carol")
AGENT = Peer("PA_g", "agent", is_agent=True)
EVERYONE = [ALICE, BOB, CAROL, AGENT]


def test_the_server_asserts_the_sender_identity() -> None:
    forged = models.DataPacket(
        participant_identity="bob",
        participant_sid="PA_b",
        user=models.UserPacket(payload=b"x", participant_sid="PA_b"),
    )
    packet = data.prepare(ALICE, forged, Kind.LOSSY)
    assert packet is not None
    assert (packet.participant_identity, packet.participant_sid) == ("alice", "PA_a")
    assert packet.kind == Kind.LOSSY
    assert (packet.user.participant_identity, packet.user.participant_sid) == ("alice", "PA_a")


def test_no_destination_means_everyone_but_the_sender() -> None:
    packet = data.prepare(ALICE, models.DataPacket(user=models.UserPacket()), Kind.RELIABLE)
    assert packet is not None
    assert data.recipients(ALICE, packet, EVERYONE) == [BOB, CAROL, AGENT]
    assert data.recipients(None, packet, EVERYONE) == EVERYONE


def test_destinations_by_identity_or_legacy_sid() -> None:
    by_identity = models.DataPacket(destination_identities=["carol"], user=models.UserPacket())
    prepared = data.prepare(ALICE, by_identity, Kind.RELIABLE)
    assert prepared is not None and data.recipients(ALICE, prepared, EVERYONE) == [CAROL]
    assert list(prepared.user.destination_identities) == ["carol"]
    legacy = models.DataPacket(user=models.UserPacket(destination_identities=["bob"]))
    prepared = data.prepare(ALICE, legacy, Kind.RELIABLE)
    assert prepared is not None and data.recipients(ALICE, prepared, EVERYONE) == [BOB]
    by_sid = models.DataPacket(user=models.UserPacket(destination_sids=["PA_g"]))
    prepared = data.prepare(ALICE, by_sid, Kind.RELIABLE)
    assert prepared is not None and data.recipients(ALICE, prepared, EVERYONE) == [AGENT]


def test_hidden_senders_stay_anonymous() -> None:
    ghost = Peer("PA_h", "ghost", hidden=True)
    packet = data.prepare(ghost, models.DataPacket(user=models.UserPacket()), Kind.RELIABLE)
    assert packet is not None
    assert (packet.participant_identity, packet.user.participant_sid) == ("", "")


def test_agents_may_speak_for_others_only_in_chat_and_text_streams() -> None:
    chat = models.DataPacket(participant_identity="alice", chat_message=models.ChatMessage())
    packet = data.prepare(AGENT, chat, Kind.RELIABLE)
    assert packet is not None
    assert (packet.participant_identity, packet.chat_message.generated) == ("alice", True)
    rpc = models.DataPacket(participant_identity="alice", rpc_request=models.RpcRequest())
    packet = data.prepare(AGENT, rpc, Kind.RELIABLE)
    assert packet is not None and packet.participant_identity == "agent"
    forged_chat = models.DataPacket(participant_identity="alice", chat_message=models.ChatMessage())
    packet = data.prepare(BOB, forged_chat, Kind.RELIABLE)
    assert packet is not None and packet.participant_identity == "bob"


def test_what_is_not_forwarded() -> None:
    transcription = models.DataPacket(transcription=models.Transcription())
    assert data.prepare(BOB, transcription, Kind.RELIABLE) is None
    assert data.prepare(AGENT, transcription, Kind.RELIABLE) is not None
    assert data.prepare(BOB, models.DataPacket(), Kind.RELIABLE) is None
    speaker = models.DataPacket(speaker=models.ActiveSpeakerUpdate())
    assert data.prepare(BOB, speaker, Kind.RELIABLE) is None


def test_undecodable_packets_are_errors() -> None:
    with pytest.raises(data.DataError):
        data.decode(b"\xff\xff\xff\xff")
    dtmf = models.DataPacket(sip_dtmf=models.SipDTMF(code=11, digit="#"))
    assert data.decode(dtmf.SerializeToString()) == dtmf
