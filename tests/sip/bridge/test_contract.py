"""The names and codes the bridge and the worker must spell alike."""

from __future__ import annotations

from sip.bridge import contract


def test_room_and_identity_derive_from_the_call_sid() -> None:
    sid = "CA0123456789abcdef0123456789abcdef"
    assert contract.room_name(sid) == "twilio-" + sid
    assert contract.bridge_identity(sid) == "twilio-" + sid


def test_attributes_label_the_path_and_the_call() -> None:
    assert contract.bridge_attributes("CA1", "+15550100001", "+15550100002") == {
        "trunkline.path": "twilio-ws",
        "trunkline.call_sid": "CA1",
        "trunkline.from": "+15550100001",
        "trunkline.to": "+15550100002",
    }


def test_every_twilio_dtmf_digit_has_its_rfc_4733_code() -> None:
    assert [contract.dtmf_code(d) for d in "0123456789*#ABCD"] == list(range(16))
