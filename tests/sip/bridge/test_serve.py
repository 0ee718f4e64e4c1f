"""``trunkline serve`` in bridge mode: selected by LIVEKIT_URL, explained by ``--help``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp
import pytest

from sip.bridge.apology import APOLOGY_TEXT
from trunkline import cli

CALL = {"CallSid": "CA" + "e" * 32, "From": "+15550100001", "To": "+15550100002"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_explains_bridge_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "Bridge mode",
        "LIVEKIT_URL",
        "twilio-<CallSid>",
        "AGENT_NAME",
        "--agent-timeout",
    ):
        assert phrase in text


def serve_env(livekit_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "TWILIO_"))}
    env.update(LIVEKIT_URL=livekit_url, LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret")
    return env


def test_pacer_off_is_refused_in_bridge_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in serve_env(f"ws://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    assert cli.main(["serve", "--env-file", os.devnull, "--pacer", "off"]) == 2
    assert "--pacer off is for local mode only" in capsys.readouterr().err


def test_incomplete_livekit_settings_are_listed_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in serve_env(f"ws://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LIVEKIT_API_SECRET")
    assert cli.main(["serve", "--env-file", os.devnull, "--pacer", "off"]) == 2
    assert "LIVEKIT_API_SECRET is not set" in capsys.readouterr().err


@pytest.mark.slow
async def test_serve_bridges_when_livekit_url_is_set_and_apologises_when_it_is_down() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trunkline.cli",
        "serve",
        "--port",
        str(port),
        "--env-file",
        os.devnull,
        env=serve_env(f"ws://127.0.0.1:{free_port()}"),
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        health = await resp.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("trunkline serve did not start")
            assert health["mode"] == "bridge"
            async with http.post(f"{base}/twilio/voice", data=CALL) as resp:
                twiml = await resp.text()
        assert f"<Say>{APOLOGY_TEXT}</Say><Hangup />" in twiml
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"refused at the webhook: LiveKit failed" in err
