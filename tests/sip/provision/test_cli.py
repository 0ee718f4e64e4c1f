"""``trunkline provision`` as a user runs it: exit codes and what reaches the terminal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.sip.provision.conftest import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, Planes
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


async def test_a_failed_step_is_named_on_stderr_with_exit_status_1(
    planes: Planes,
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env_file = tmp_path / ".env.local"
    env_file.write_text(
        f"LIVEKIT_URL={planes.livekit_url}\nLIVEKIT_API_KEY={API_KEY}\n"
        f"LIVEKIT_API_SECRET={API_SECRET}\nTWILIO_ACCOUNT_SID={ACCOUNT_SID}\n"
        f"TWILIO_AUTH_TOKEN={AUTH_TOKEN}\nLIVEKIT_SIP_URI=abc123.sip.livekit.cloud\n"
    )
    planes.livekit.fail("ListSIPDispatchRule", "internal", "database unavailable")
    argv = ["provision", "--number", "+15550001111", "--env-file", str(env_file)]

    # The CLI runs its own event loop, so it gets a thread; the stand-ins serve on this loop.
    code = await asyncio.to_thread(cli.main, argv)

    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.splitlines()[0] == (
        "trunkline provision: failed while listing LiveKit dispatch rules: "
        "LiveKit said internal: database unavailable (HTTP 500)"
    )
    assert planes.livekit.requests("ListSIPInboundTrunk")
    assert planes.livekit.writes == [] and planes.twilio.requests == []
