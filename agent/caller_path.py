"""Which path a room's caller came by, and the id its call goes by in the turn logs.

The agent is the same on every path; only the label (metrics) and the call actions (hang-up,
transfer) differ. LiveKit SIP marks its participants with kind SIP; the Twilio bridge is an
ordinary participant that says what it is in an attribute; anything else is a LiveKit client,
i.e. a browser or app over WebRTC.

The call id must match what the other writers of the turn log use for the same call (the
caller simulator and the sidecar write Twilio's CallSid), so the report can merge their lines.
"""

from __future__ import annotations

from livekit import rtc

from agent.bridge_contract import CALL_SID_ATTRIBUTE, PATH_ATTRIBUTE, TWILIO_WS_PATH
from agent.call_actions import CallerPath

#: LiveKit SIP's own id of the SIP call, set on every SIP participant
SIP_CALL_ID_ATTRIBUTE = "sip.callID"


def caller_path(participant: rtc.RemoteParticipant) -> CallerPath:
    if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return "sip"
    if participant.attributes.get(PATH_ATTRIBUTE) == TWILIO_WS_PATH:
        return "twilio-ws"
    return "webrtc"


def call_id(participant: rtc.RemoteParticipant, path: CallerPath, room_name: str) -> str:
    """The Twilio CallSid, LiveKit SIP's call id, or (browser, or either one missing) the room.

    A SIP call that Twilio Programmable Voice dialled for the sidecar's one-number split carries
    its CallSid in a header, which the inbound trunk turns into the same attribute the bridge
    sets (``trunkline provision --dial-sip``): such a call goes by its CallSid, as on the
    twilio-ws path, so the caller's and the agent's turn lines of either path merge alike."""
    attributes = {
        "twilio-ws": (CALL_SID_ATTRIBUTE,),
        "sip": (CALL_SID_ATTRIBUTE, SIP_CALL_ID_ATTRIBUTE),
    }.get(path, ())
    return next((v for a in attributes if (v := participant.attributes.get(a))), room_name)
