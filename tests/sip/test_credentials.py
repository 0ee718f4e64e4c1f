"""Credentials for the set-up commands: environment over .env.local, every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.config import (
    LiveKitCredentials,
    TwilioCredentials,
    agent_name,
    livekit_credentials,
    load_env,
    twilio_credentials,
)


def test_environment_wins_over_the_env_file(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env.local"
    env_file.write_text("LIVEKIT_URL=wss://file.livekit.cloud\nAGENT_NAME=from-file\n")
    clean_env.setenv("LIVEKIT_URL", "wss://env.livekit.cloud")
    env = load_env(env_file)
    assert env["LIVEKIT_URL"] == "wss://env.livekit.cloud"
    assert env["AGENT_NAME"] == "from-file"


def test_a_missing_env_file_is_no_error(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert "LIVEKIT_URL" not in load_env(tmp_path / "absent")


def test_complete_credentials() -> None:
    problems: list[str] = []
    env = {
        "LIVEKIT_URL": "wss://p.livekit.cloud/",
        "LIVEKIT_API_KEY": "k",
        "LIVEKIT_API_SECRET": "s",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_AUTH_TOKEN": "t",
    }
    assert livekit_credentials(env, problems) == LiveKitCredentials(
        "wss://p.livekit.cloud", "k", "s"
    )
    assert twilio_credentials(env, problems) == TwilioCredentials("AC123", "t")
    assert problems == []


def test_each_missing_or_malformed_value_is_one_line() -> None:
    problems: list[str] = []
    env = {"LIVEKIT_URL": "p.livekit.cloud", "LIVEKIT_API_KEY": "  ", "TWILIO_ACCOUNT_SID": "SK1"}
    assert livekit_credentials(env, problems) is None
    assert twilio_credentials(env, problems) is None
    assert problems == [
        "LIVEKIT_URL='p.livekit.cloud' is not a ws(s):// or http(s):// URL with a host",
        "LIVEKIT_API_KEY is not set",
        "LIVEKIT_API_SECRET is not set",
        "TWILIO_ACCOUNT_SID='SK1' does not start with 'AC'",
        "TWILIO_AUTH_TOKEN is not set",
    ]


def test_agent_name_option_then_env_then_default() -> None:
    assert agent_name({}) == "trunkline"
    assert agent_name({"AGENT_NAME": "desk"}) == "desk"
    assert agent_name({"AGENT_NAME": "desk"}, "cli") == "cli"
