"""``trunkline provision`` as a user runs it: exit codes and what reaches the terminal."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from sip.provision import provisioner
from tests.sip.provision.conftest import ACCOUNT_SID, AUTH_TOKEN, NUMBER, Planes, writes
from tests.sip.provision.twilio_standin import LoopbackHttpClient
from trunkline import cli


def test_bad_input_and_missing_credentials_are_listed_before_anything_is_contacted(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    code = cli.main(
        ["provision", "--number", "555-0100", "--env-file", str(tmp_path / "none"), "--dry-run"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "trunkline provision: nothing was contacted, because:",
        "  - --number '555-0100' is not E.164 (a '+', country code, digits: +15551234567)",
        "  - LIVEKIT_SIP_URI (or --sip-uri) is not set: the SIP URI on your LiveKit project's "
        "settings page, e.g. sip:abc123.sip.livekit.cloud",
        "  - LIVEKIT_URL is not set (your project URL, e.g. wss://<project>.livekit.cloud)",
        "  - LIVEKIT_API_KEY is not set",
        "  - LIVEKIT_API_SECRET is not set",
        "  - TWILIO_AUTH_TOKEN is not set",
    ]


def test_dial_sip_needs_the_sidecar_s_credentials_and_no_twilio_ones(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TRUNKLINE_SIP_USERNAME", "TRUNKLINE_SIP_PASSWORD"):
        clean_env.delenv(name, raising=False)
    clean_env.setenv("LIVEKIT_URL", "ws://127.0.0.1:9")
    clean_env.setenv("LIVEKIT_API_KEY", "k")
    clean_env.setenv("LIVEKIT_API_SECRET", "s")
    argv = ["provision", "--number", NUMBER, "--sip-uri", "abc123.sip.livekit.cloud"]
    code = cli.main([*argv, "--dial-sip", "--env-file", str(tmp_path / "none")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    (problem,) = err.splitlines()[1:]
    assert problem.startswith(
        "  - --dial-sip needs TRUNKLINE_SIP_USERNAME and TRUNKLINE_SIP_PASSWORD (the same pair "
        "the sidecar dials with)"
    )


def env_file(planes: Planes, tmp_path: Path, **overrides: str) -> Path:
    settings = {
        "LIVEKIT_URL": planes.stack.url,
        "LIVEKIT_API_KEY": planes.stack.api_key,
        "LIVEKIT_API_SECRET": planes.stack.api_secret,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "LIVEKIT_SIP_URI": "abc123.sip.livekit.cloud",
    }
    path = tmp_path / ".env.local"
    path.write_text("".join(f"{k}={v}\n" for k, v in (settings | overrides).items()))
    return path


@pytest.fixture
def twilio_on_loopback(planes: Planes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's Twilio client, sent to the stand-in (Twilio has no local real counterpart)."""
    loopback = LoopbackHttpClient(planes.twilio_url)

    def client(*args: Any, http_client: Any = None, **kwargs: Any) -> Client:
        assert http_client is None, "the CLI passes no HTTP client of its own"
        return Client(*args, http_client=loopback, **kwargs)

    monkeypatch.setattr(provisioner, "Client", client)


@pytest.mark.netns
@pytest.mark.usefixtures("twilio_on_loopback")
async def test_a_run_prints_the_plan_and_the_rule_dispatches_the_configured_agent(
    planes: Planes,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = env_file(planes, tmp_path, AGENT_NAME="front-desk")
    argv = ["provision", "--number", NUMBER, "--env-file", str(path)]
    # the Twilio stand-in is an aiohttp server in this process: its access lines are not the
    # command's output (a real run has no server to log them)
    caplog.set_level(logging.WARNING, logger="aiohttp.access")

    # The CLI runs its own event loop, so it gets a thread; the Twilio stand-in serves on this one.
    code = await asyncio.to_thread(cli.main, argv)

    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    trunk = await planes.only_trunk()
    assert out.splitlines()[:8] == [
        "LiveKit inbound trunk 'trunkline': create",
        f"    numbers: (none) -> [{NUMBER}]",
        "LiveKit dispatch rule 'trunkline': create",
        "    rule: (none) -> individual room_prefix='call-'",
        f"    trunk_ids: (none) -> [{trunk.sip_trunk_id}]",
        "    agents: (none) -> [front-desk]",
        "Twilio Elastic SIP trunk 'trunkline': create",
        "    transfer_mode: (none) -> enable-all",
    ]
    (rule,) = await planes.rules(trunk.sip_trunk_id)
    assert rule.room_config.agents[0].agent_name == "front-desk"

    again = await asyncio.to_thread(cli.main, argv)
    out, _ = capsys.readouterr()
    assert again == 0
    assert [line.rpartition(": ")[2] for line in out.splitlines()] == ["unchanged"] * 5


@pytest.mark.netns
@pytest.mark.usefixtures("twilio_on_loopback")
async def test_a_failed_step_is_named_on_stderr_with_exit_status_1(
    planes: Planes,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = env_file(planes, tmp_path, LIVEKIT_API_SECRET="an-old-secret-of-at-least-32-bytes!")
    argv = ["provision", "--number", NUMBER, "--env-file", str(path)]

    code = await asyncio.to_thread(cli.main, argv)

    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.splitlines()[0] == (
        "trunkline provision: failed while listing LiveKit inbound trunks: LiveKit did not "
        "accept the API key and secret (HTTP 401): check LIVEKIT_API_KEY and "
        "LIVEKIT_API_SECRET against the project's keys"
    )
    assert writes(await planes.api_log()) == [] and await planes.trunks() == []
    assert planes.twilio.requests == []
