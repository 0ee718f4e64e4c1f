"""The agent ⇄ Twilio-bridge contract, as names and codes both sides must spell the same way.

One Twilio call is one LiveKit room. The worker recognises the bridge by its attributes (not by
its identity), sends it RPCs to act on the Twilio call, and receives the caller's key presses as
SIP DTMF — so a `twilio-ws` caller looks to the agent exactly like a SIP caller, except for its
path label. Anything here changes only together with the worker.
"""

from __future__ import annotations

from typing import Final

from livekit import rtc

ROOM_PREFIX: Final = "twilio-"

PATH_ATTRIBUTE: Final = "trunkline.path"
CALL_SID_ATTRIBUTE: Final = "trunkline.call_sid"
FROM_ATTRIBUTE: Final = "trunkline.from"
TO_ATTRIBUTE: Final = "trunkline.to"
PATH: Final = "twilio-ws"

RPC_CLEAR: Final = "trunkline.clear"
"""Payload ``{}``: the agent was interrupted; drop what is queued for the caller."""
RPC_HANGUP: Final = "trunkline.hangup"
"""Payload ``{"reason": "..."}``: end the call."""
RPC_TRANSFER: Final = "trunkline.transfer"
"""Payload ``{"to": "+1555..."}``: redirect the Twilio call to that number."""

#: RFC 4733 event codes, which LiveKit SIP carries in ``SipDTMF.code``.
DTMF_CODES: Final = {
    **{str(d): d for d in range(10)},
    "*": 10,
    "#": 11,
    "A": 12,
    "B": 13,
    "C": 14,
    "D": 15,
}


def room_name(call_sid: str) -> str:
    return ROOM_PREFIX + call_sid


def bridge_identity(call_sid: str) -> str:
    return ROOM_PREFIX + call_sid


def bridge_attributes(call_sid: str, from_number: str, to_number: str) -> dict[str, str]:
    return {
        PATH_ATTRIBUTE: PATH,
        CALL_SID_ATTRIBUTE: call_sid,
        FROM_ATTRIBUTE: from_number,
        TO_ATTRIBUTE: to_number,
    }


def dtmf_code(digit: str) -> int:
    """The SIP DTMF code of a Twilio digit; raises KeyError for anything else."""
    return DTMF_CODES[digit]


def is_agent(participant: rtc.RemoteParticipant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
