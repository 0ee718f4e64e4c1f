"""Browser join tokens: the grants and the room configuration that dispatches the agent."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from sip.browser_token import join_token, parse_ttl, websocket_url
from trunkline import cli
from trunkline.config import LiveKitCredentials

KEY = "APIbrowsertest"
SECRET = "browser-token-test-secret-of-at-least-32-bytes"


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
    return claims


def test_token_joins_the_room_and_dispatches_the_agent() -> None:
    creds = LiveKitCredentials("wss://p.livekit.cloud", KEY, SECRET)
    token = join_token(
        creds,
        room="demo",
        identity="caller-1",
        name="Ada",
        agent="front-desk",
        ttl=timedelta(minutes=30),
    )
    claims = decode(token)
    assert claims["sub"] == "caller-1"
    assert claims["name"] == "Ada"
    assert claims["video"] == {
        "roomJoin": True,
        "room": "demo",
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
    }
    assert claims["roomConfig"] == {"agents": [{"agentName": "front-desk"}]}
    assert claims["exp"] - claims["nbf"] == 30 * 60


def test_a_token_signed_with_another_secret_does_not_verify() -> None:
    creds = LiveKitCredentials(
        "wss://p.livekit.cloud", KEY, "another-secret-that-is-also-32-bytes-long"
    )
    token = join_token(creds, room="r", identity="i", agent="a", ttl=timedelta(hours=1))
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token)


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("6h", 21600), ("1D", 86400)]
)
def test_ttl_forms(raw: str, seconds: int) -> None:
    assert parse_ttl(raw) == timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", ["0", "-5m", "1w", "h", ""])
def test_bad_ttls(raw: str) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_ttl(raw)


def test_playground_gets_a_websocket_url() -> None:
    assert websocket_url("https://p.livekit.cloud") == "wss://p.livekit.cloud"
    assert websocket_url("http://127.0.0.1:7880") == "ws://127.0.0.1:7880"
    assert websocket_url("wss://p.livekit.cloud") == "wss://p.livekit.cloud"


def test_cli_prints_only_the_token_on_stdout_and_the_hint_on_stderr(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        f"LIVEKIT_URL=https://p.livekit.cloud\nLIVEKIT_API_KEY={KEY}\nLIVEKIT_API_SECRET={SECRET}\n"
        "AGENT_NAME=front-desk\n"
    )
    code = cli.main(
        ["token", "--room", "demo", "--identity", "me", "--ttl", "2h", "--env-file", str(env_file)]
    )
    out, err = capsys.readouterr()
    assert code == 0
    (token,) = out.splitlines()
    claims = decode(token)
    assert claims["roomConfig"]["agents"] == [{"agentName": "front-desk"}]
    assert claims["exp"] - claims["nbf"] == 7200
    assert "https://agents-playground.livekit.io" in err and "wss://p.livekit.cloud" in err


def test_cli_lists_every_problem_and_prints_no_token(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("LIVEKIT_API_KEY", KEY)
    argv = [
        "token",
        "--room",
        " ",
        "--identity",
        "me",
        "--ttl",
        "soon",
        "--env-file",
        str(tmp_path / "none"),
    ]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "trunkline token: no token made, because:",
        "  - LIVEKIT_URL is not set (your project URL, e.g. wss://<project>.livekit.cloud)",
        "  - LIVEKIT_API_SECRET is not set",
        "  - --ttl 'soon' is not a positive duration like 90s, 30m, 6h or 1d",
        "  - --room must not be empty",
    ]
