"""The id a room's call goes by in turn lines and logs, per path."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from livekit import rtc

from agent.caller_path import call_id, caller_path


def participant(kind: int, **attributes: str) -> rtc.RemoteParticipant:
    """What ``caller_path`` and ``call_id`` read of a participant: its kind and attributes."""
    return cast(rtc.RemoteParticipant, SimpleNamespace(kind=kind, attributes=attributes))


SIP = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
STANDARD = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD


def test_a_sip_call_dialled_for_the_one_number_split_goes_by_its_twilio_callsid() -> None:
    split = participant(SIP, **{"sip.callID": "SCL_1", "trunkline.call_sid": "CA1"})
    assert caller_path(split) == "sip" and call_id(split, "sip", "call-x") == "CA1"


def test_other_calls_keep_their_ids() -> None:
    trunk = participant(SIP, **{"sip.callID": "SCL_2"})
    assert call_id(trunk, "sip", "call-y") == "SCL_2"
    bridge = participant(STANDARD, **{"trunkline.path": "twilio-ws", "trunkline.call_sid": "CA3"})
    assert caller_path(bridge) == "twilio-ws" and call_id(bridge, "twilio-ws", "r") == "CA3"
    browser = participant(STANDARD, **{"trunkline.call_sid": "CA4"})
    assert caller_path(browser) == "webrtc" and call_id(browser, "webrtc", "web-1") == "web-1"
    assert call_id(participant(SIP), "sip", "call-z") == "call-z"
