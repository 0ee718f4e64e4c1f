"""The agent ⇄ Twilio-bridge contract, as the bridge needs it.

One Twilio call is one LiveKit room. The worker recognises the bridge by its attributes (not by
its identity), sends it RPCs to act on the Twilio call, and receives the caller's key presses as
SIP DTMF — so a `twilio-ws` caller looks to the agent exactly like a SIP caller, except for its
path label. The names both sides spell are defined once, in ``agent.bridge_contract``; what
only the bridge needs (room and identity naming, DTMF codes) is here.
"""

from __future__ import annotations

from typing import Final

from livekit import rtc

# the names both sides spell, re-exported for the bridge's modules
from agent.bridge_contract import CALL_SID_ATTRIBUTE as CALL_SID_ATTRIBUTE
from agent.bridge_contract import FROM_ATTRIBUTE as FROM_ATTRIBUTE
from agent.bridge_contract import PATH_ATTRIBUTE as PATH_ATTRIBUTE
from agent.bridge_contract import PONG as PONG
from agent.bridge_contract import RPC_CLEAR as RPC_CLEAR
from agent.bridge_contract import RPC_HANGUP as RPC_HANGUP
from agent.bridge_contract import RPC_PING as RPC_PING
from agent.bridge_contract import RPC_TRANSFER as RPC_TRANSFER
from agent.bridge_contract import TO_ATTRIBUTE as TO_ATTRIBUTE
from agent.bridge_contract import TWILIO_WS_PATH as TWILIO_WS_PATH

ROOM_PREFIX: Final = "twilio-"

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
        PATH_ATTRIBUTE: TWILIO_WS_PATH,
        CALL_SID_ATTRIBUTE: call_sid,
        FROM_ATTRIBUTE: from_number,
        TO_ATTRIBUTE: to_number,
    }


def dtmf_code(digit: str) -> int:
    """The SIP DTMF code of a Twilio digit; raises KeyError for anything else."""
    return DTMF_CODES[digit]


def is_agent(participant: rtc.RemoteParticipant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
