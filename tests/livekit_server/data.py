"""Data packets between participants: user data, SIP DTMF, RPC, chat and streams.

The server is the authority on who sent a packet: like LiveKit it overwrites the sender
identity (except where an agent speaks for someone else: generated chat and text streams),
so a client cannot impersonate another. Destinations are identities (or legacy sids); none
means everyone but the sender. The channel a packet arrived on decides its kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError
from livekit.protocol import models

Kind = models.DataPacket.Kind

FORWARDED = frozenset(
    {
        "user",
        "sip_dtmf",
        "transcription",
        "chat_message",
        "rpc_request",
        "rpc_ack",
        "rpc_response",
        "stream_header",
        "stream_chunk",
        "stream_trailer",
        "encrypted_packet",
    }
)


class Peer(Protocol):
    sid: str
    identity: str

    @property
    def hidden(self) -> bool: ...

    @property
    def is_agent(self) -> bool: ...


P = TypeVar("P", bound=Peer)


class DataError(ValueError):
    """A packet the server cannot parse."""


def decode(payload: bytes) -> models.DataPacket:
    packet = models.DataPacket()
    try:
        packet.ParseFromString(payload)
    except DecodeError as exc:
        raise DataError(f"undecodable data packet ({len(payload)} bytes)") from exc
    return packet


def prepare(sender: Peer, packet: models.DataPacket, kind: Kind) -> models.DataPacket | None:
    """The packet as it is forwarded, or None when it is not forwarded to participants."""
    which = packet.WhichOneof("value")
    if which not in FORWARDED:
        return None
    if which == "transcription" and not sender.is_agent:
        return None
    packet.kind = kind
    identity = "" if sender.hidden else sender.identity
    speaks_for_other = (
        sender.is_agent
        and packet.participant_identity not in ("", sender.identity)
        and (
            which == "chat_message"
            or (which == "stream_header" and packet.stream_header.HasField("text_header"))
        )
    )
    if which == "chat_message" and speaks_for_other:
        packet.chat_message.generated = True
    if which == "stream_header" and speaks_for_other:
        packet.stream_header.text_header.generated = True
    if not speaks_for_other:
        packet.participant_identity = identity
    packet.participant_sid = "" if sender.hidden else sender.sid
    if which == "user":
        user = packet.user
        user.participant_identity = identity
        user.participant_sid = "" if sender.hidden else sender.sid
        if packet.destination_identities:
            user.destination_identities[:] = packet.destination_identities
        else:
            packet.destination_identities[:] = user.destination_identities
    return packet


def recipients(sender: P | None, packet: models.DataPacket, peers: Iterable[P]) -> list[P]:
    """Who receives a prepared packet: its destinations, or everyone else when it names none."""
    identities = set(packet.destination_identities)
    sids = set(packet.user.destination_sids) if packet.WhichOneof("value") == "user" else set()
    chosen: list[P] = []
    for peer in peers:
        if sender is not None and peer.sid == sender.sid:
            continue
        if (identities or sids) and peer.identity not in identities and peer.sid not in sids:
            continue
        chosen.append(peer)
    return chosen
