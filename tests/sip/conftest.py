"""Shared fixtures for the telephony-edge tests."""

from __future__ import annotations

import pytest

SETTINGS = (
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "LIVEKIT_SIP_URI",
    "AGENT_NAME",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LiveKit/Twilio settings from the machine running the tests leak into them."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
