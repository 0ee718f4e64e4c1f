"""``trunkline serve`` answers with the simulator only where no real caller can reach it."""

from __future__ import annotations

import os

import pytest

from agent.model import ModelSettings, choose_model
from trunkline import cli

REFUSAL = (
    "real callers would be answered by the offline simulator. Set OPENAI_API_KEY, or choose "
    "the simulator on purpose with --model sim (TRUNKLINE_MODEL=sim)"
)


@pytest.fixture
def no_model(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OPENAI_API_KEY", "TRUNKLINE_MODEL", "TRUNKLINE_SIM_URL", "PUBLIC_URL",
                 "TRUNKLINE_TRUSTED_PROXIES"):  # fmt: skip
        clean_env.delenv(name, raising=False)
    return clean_env


@pytest.mark.parametrize(
    ("env", "because"),
    [
        ({"PUBLIC_URL": "https://voice.example.com"}, "PUBLIC_URL"),
        (
            {
                "PUBLIC_URL": "https://voice.example.com",
                "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TWILIO_AUTH_TOKEN": "token",
            },
            "PUBLIC_URL",
        ),
        (
            {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t", "PUBLIC_URL": ""},
            None,
        ),
        ({"TRUNKLINE_TRUSTED_PROXIES": "10.0.0.0/8"}, "TRUNKLINE_TRUSTED_PROXIES"),
    ],
)
def test_a_public_sidecar_without_openai_refuses_to_start_with_one_clear_message(
    no_model: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    because: str | None,
) -> None:
    for name, value in env.items():
        no_model.setenv(name, value)
    assert cli.main(["serve", "--env-file", os.devnull]) == 2
    err = capsys.readouterr().err
    if because is None:  # an auth token without PUBLIC_URL: that is the problem reported
        assert "PUBLIC_URL is required when TWILIO_AUTH_TOKEN is set" in err
        return
    lines = err.strip().splitlines()
    assert lines[0] == "trunkline serve: invalid configuration:"
    (problem,) = lines[1:]
    reason = f"OPENAI_API_KEY is not set, and {because} makes this sidecar public: "
    assert problem == f"  - {reason}{REFUSAL}"


def test_asking_for_openai_without_a_key_and_nonsense_are_refused(
    no_model: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--env-file", os.devnull, "--model", "openai"]) == 2
    assert "the model is set to openai" in capsys.readouterr().err
    no_model.setenv("TRUNKLINE_MODEL", "gpt")
    assert cli.main(["serve", "--env-file", os.devnull]) == 2
    assert "TRUNKLINE_MODEL / --model 'gpt' is not one of openai, sim" in capsys.readouterr().err


def test_model_is_not_the_sidecar_s_to_choose_in_bridge_mode(
    no_model: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_model.setenv("LIVEKIT_URL", "ws://127.0.0.1:9")
    no_model.setenv("LIVEKIT_API_KEY", "k")
    no_model.setenv("LIVEKIT_API_SECRET", "s")
    assert cli.main(["serve", "--env-file", os.devnull, "--model", "sim"]) == 2
    assert "--model is for local mode only" in capsys.readouterr().err


def test_the_choice_itself() -> None:
    keyed = ModelSettings(api_key="sk-1")
    bare = ModelSettings()
    public = "PUBLIC_URL makes this sidecar public"

    def choose(settings: ModelSettings, requested: str | None, why: str | None) -> str:
        problems: list[str] = []
        chosen = choose_model(settings, requested, real_callers=why, problems=problems)
        if chosen is None:
            return "refused: " + problems[0]
        return "openai" if chosen.api_key else "sim"

    assert choose(bare, None, None) == "sim"  # make demo, tests, a laptop
    assert choose(bare, None, public).startswith("refused: OPENAI_API_KEY is not set, and PUBLIC")
    assert choose(bare, "sim", public) == "sim"  # on purpose
    assert choose(keyed, None, public) == "openai"
    assert choose(keyed, "sim", None) == "sim"  # the simulator even with a key, when asked
    assert choose(bare, "openai", None).startswith("refused: the model is set to openai")
