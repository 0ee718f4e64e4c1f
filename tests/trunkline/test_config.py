"""Settings: modes chosen by the environment, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.config import ConfigError, load_env, settings_from_env


def test_empty_environment_is_local_mode_with_simulator() -> None:
    s = settings_from_env({})
    assert s.mode == "local" and s.model_source == "simulator"
    assert s.livekit is None and s.twilio_auth_token is None and s.twilio is None


def test_livekit_and_openai_select_bridge_and_openai() -> None:
    s = settings_from_env(
        {
            "LIVEKIT_URL": "wss://x.livekit.cloud",
            "LIVEKIT_API_KEY": "k",
            "LIVEKIT_API_SECRET": "s",
            "OPENAI_API_KEY": "sk-1",
            "AGENT_NAME": "front-desk",
        }
    )
    assert s.mode == "bridge" and s.model_source == "openai"
    assert s.livekit is not None and s.agent_name == "front-desk"


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_env(
            {
                "LIVEKIT_URL": "not a url",
                "TRUNKLINE_MAX_CALLS": "-3",
                "TRUNKLINE_MAX_CALL_SECONDS": "soon",
                "TWILIO_ACCOUNT_SID": "XX123",
                "TWILIO_AUTH_TOKEN": "t",
            }
        )
    text = "\n".join(exc.value.problems)
    # LIVEKIT_URL malformed + its key and secret missing, two limits, the SID, PUBLIC_URL
    assert len(exc.value.problems) == 7, text
    for name in (
        "LIVEKIT_URL",
        "TRUNKLINE_MAX_CALLS",
        "TRUNKLINE_MAX_CALL_SECONDS",
        "TWILIO_ACCOUNT_SID",
        "PUBLIC_URL",
    ):
        assert name in text


def test_livekit_url_needs_key_and_secret() -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_env({"LIVEKIT_URL": "ws://127.0.0.1:7880"})
    assert len(exc.value.problems) == 2


def test_env_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env.local"
    env_file.write_text("OPENAI_REALTIME_VOICE=verse\nAGENT_NAME=from-file\n")
    monkeypatch.setenv("AGENT_NAME", "from-env")
    values = load_env(env_file)
    assert values["OPENAI_REALTIME_VOICE"] == "verse" and values["AGENT_NAME"] == "from-env"
