"""Signatures (checked with the twilio SDK's own algorithm) and one-time stream tokens."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from sip.twilio.security import (
    StreamTokenError,
    StreamTokens,
    is_valid_signature,
    public_url_for,
)


def test_signature_valid_invalid_missing() -> None:
    url = "https://example.com/twilio/voice"
    params = {"CallSid": "CA1", "From": "+1555"}
    sig = RequestValidator("tok").compute_signature(url, params)
    assert is_valid_signature("tok", url, params, sig)
    assert not is_valid_signature("other", url, params, sig)
    assert not is_valid_signature("tok", url, params | {"From": "+1666"}, sig)
    assert not is_valid_signature("tok", url, params, None)


def test_public_url_for_websocket_and_prefix() -> None:
    assert public_url_for("https://x.io/base", "/twilio/media", websocket=True) == (
        "wss://x.io/base/twilio/media"
    )
    assert public_url_for("https://x.io", "/twilio/voice?a=1") == "https://x.io/twilio/voice?a=1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_is_one_time_bound_and_expiring() -> None:
    clock = Clock()
    tokens = StreamTokens(b"secret", ttl_s=60, clock=clock)
    t = tokens.issue("CA1")
    with pytest.raises(StreamTokenError, match="this call"):
        tokens.redeem(t, "CA2")
    tokens.redeem(t, "CA1")
    with pytest.raises(StreamTokenError, match="already used"):
        tokens.redeem(t, "CA1")
    late = tokens.issue("CA3")
    clock.now += 61
    with pytest.raises(StreamTokenError, match="expired"):
        tokens.redeem(late, "CA3")
    with pytest.raises(StreamTokenError, match="no stream token"):
        tokens.redeem(None, "CA1")
    with pytest.raises(StreamTokenError, match="malformed"):
        tokens.redeem("a.b", "CA1")
    forged = StreamTokens(b"other", clock=clock).issue("CA1")
    with pytest.raises(StreamTokenError):
        tokens.redeem(forged, "CA1")
