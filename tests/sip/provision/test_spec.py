"""The desired state is validated up front: every problem at once, nothing contacted."""

from __future__ import annotations

import pytest

from sip.provision.spec import ProvisionSpec, make_spec, normalize_sip_uri


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("sip:abc123.sip.livekit.cloud", "sip:abc123.sip.livekit.cloud;transport=tcp"),
        ("abc123.sip.livekit.cloud", "sip:abc123.sip.livekit.cloud;transport=tcp"),
        (" SIP:abc123.sip.livekit.cloud ", "sip:abc123.sip.livekit.cloud;transport=tcp"),
        ("sip:abc.sip.livekit.cloud;transport=udp", "sip:abc.sip.livekit.cloud;transport=udp"),
        ("sip:sip.example.test:5080", "sip:sip.example.test:5080;transport=tcp"),
        ("sip:lk@sip.example.test;x=1", "sip:lk@sip.example.test;x=1;transport=tcp"),
    ],
)
def test_sip_uri_is_normalized_for_twilio(raw: str, normalized: str) -> None:
    assert normalize_sip_uri(raw) == normalized


@pytest.mark.parametrize(
    "raw", ["sips:abc.sip.livekit.cloud", "https://abc.livekit.cloud", "sip:", "sip:bad host"]
)
def test_sip_uris_twilio_would_refuse_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_sip_uri(raw)


def test_a_good_spec_is_built_with_duplicates_dropped() -> None:
    problems: list[str] = []
    spec = make_spec(
        numbers=["+15550001111", "+15550001111", "+442071838750"],
        sip_uri="sip:abc.sip.livekit.cloud",
        agent_name="trunkline",
        allowed_addresses=["54.172.60.0/30", "2001:db8::/32", "54.172.60.0/30"],
        twilio_domain="acme.pstn.twilio.com",
        problems=problems,
    )
    assert problems == []
    assert spec == ProvisionSpec(
        numbers=("+15550001111", "+442071838750"),
        sip_uri="sip:abc.sip.livekit.cloud;transport=tcp",
        agent_name="trunkline",
        allowed_addresses=("54.172.60.0/30", "2001:db8::/32"),
        twilio_domain="acme.pstn.twilio.com",
    )


def test_every_problem_is_reported_together() -> None:
    problems: list[str] = []
    spec = make_spec(
        numbers=["5550001111", "+0123", "+1 555 000 1111"],
        sip_uri=None,
        agent_name=" ",
        name="x" * 65,
        allowed_addresses=["10.0.0.1/8", "twilio"],
        twilio_domain="acme.twilio.com",
        transfer_mode="all",
        problems=problems,
    )
    assert spec is None
    assert len(problems) == 10
    assert problems[0] == (
        "--number '5550001111' is not E.164 (a '+', country code, digits: +15551234567)"
    )
    assert any(p.startswith("LIVEKIT_SIP_URI (or --sip-uri) is not set") for p in problems)
    assert any("'10.0.0.1/8'" in p and "has host bits set" in p for p in problems)
    assert any("--name" in p for p in problems)
    assert any("agent name" in p for p in problems)
    assert any("pstn.twilio.com" in p for p in problems)
    assert problems[-1] == "--transfer-mode 'all' is not one of enable-all, sip-only, disable-all"


def test_no_number_at_all_is_a_problem() -> None:
    problems: list[str] = []
    assert (
        make_spec(numbers=[], sip_uri="x.sip.livekit.cloud", agent_name="a", problems=problems)
        is None
    )
    assert problems == ["at least one --number is required (the Twilio phone number callers dial)"]
