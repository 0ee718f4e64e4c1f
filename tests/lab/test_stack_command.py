"""``trunkline stack`` as a person runs it: a real process, its banner, calls on two paths,
and Ctrl-C leaving nothing behind.

Runs inside the test process's network namespace on its veth address, with ports of its own so
it cannot meet the session's stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from livekit import rtc

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.runner import load_speech
from tests.agent.room_rig import Caller, audible_ms
from tests.realstack.clients import participant
from trunkline.stack.configs import Ports
from trunkline.stack.ports import free_ports
from trunkline.stack.probes import http_ok

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
UP = "trunkline stack is up"
START_S = 120.0


def stack_ports(host: str) -> Ports:
    """Free ports where livekit-server's three (HTTP, then TCP and UDP for media) are
    consecutive, as the command lays them out from ``--port``."""
    while True:
        ports = free_ports(host)
        if ports.http + 2 < 65536:
            return ports


async def read_banner(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(START_S):
        while True:
            line = (await process.stdout.readline()).decode()
            if not line:
                raise AssertionError("trunkline stack exited:\n" + "".join(seen))
            seen.append(line)
            if line.startswith("logs: "):
                return "".join(seen)


@contextlib.asynccontextmanager
async def stack_process(
    netns_address: str, run_dir: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, int]]:
    ports = stack_ports(netns_address)
    sidecar_port = free_ports(netns_address).http
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "OPENAI_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trunkline.cli", "stack",
        "--host", netns_address, "--port", str(ports.http), "--sip-port", str(ports.sip),
        "--sidecar-port", str(sidecar_port), "--run-dir", str(run_dir),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process, await read_banner(process), ports.http
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_stack_answers_a_browser_and_a_twilio_caller_and_stops_on_ctrl_c(
    netns_address: str, tmp_path: Path
) -> None:
    run_dir = tmp_path / "stack"
    async with stack_process(netns_address, run_dir) as (process, banner, http_port):
        assert UP in banner
        url = f"ws://{netns_address}:{http_port}"
        assert f"LIVEKIT_URL={url}" in banner
        written = dict(
            line.split("=", 1) for line in (run_dir / "stack.env").read_text().splitlines()
        )
        assert written["LIVEKIT_URL"] == url
        assert f"LIVEKIT_API_SECRET={written['LIVEKIT_API_SECRET']}" in banner
        # the sip line says whether livekit-sip runs here, and if not, why
        assert re.search(
            r"^sip +(livekit-sip at sip:|no SIP gateway in this stack: )", banner, re.M
        )

        # webrtc: the printed token joins its room and brings the agent, which greets
        room_name, token = re.search(r"join room (\S+) with this token.*\n +(\S+)", banner).groups()  # type: ignore[union-attr]
        browser = rtc.Room()
        caller = Caller(browser)
        await browser.connect(url, token)
        try:
            await participant(
                browser, lambda p: p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT, 60.0
            )
            await caller.hears_speech(500, within_s=60.0)
            assert browser.name == room_name and audible_ms(caller.heard()) >= 500
        finally:
            await caller.aclose()

        # the call page is served for a browser on this machine (and a token minted for it)
        page = re.search(r"open the call page: (http://localhost:\d+/call/)", banner)
        assert page is not None
        loopback = page.group(1).replace("localhost", "127.0.0.1")
        async with aiohttp.ClientSession() as http:
            async with http.get(loopback) as resp:
                assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
            async with http.post(loopback + "token", json={}) as resp:
                assert resp.status == 200 and (await resp.json())["token"]

        # twilio-ws: the printed webhook, in bridge mode, reaches the same worker
        sidecar = re.search(r"webhook (http://\S+)/twilio/voice \(bridge mode\)", banner)
        assert sidecar is not None
        options = CallerOptions(
            url=sidecar.group(1), speech=load_speech(default_speech()), turns=1, linger_s=0.5
        )
        async with aiohttp.ClientSession() as http:
            result = await SimulatedCaller(options, http).run()
        assert result.greeting is not None and result.greeting.heard_ms > 500
        (turn,) = result.turns
        assert turn.heard_ms > 0 and turn.gaps == 0

        # Ctrl-C stops everything it started, and says so
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest, _ = await process.communicate()
        assert process.returncode == 0, rest.decode()
        assert "trunkline stack: stopped" in rest.decode()
    assert not http_ok(f"http://{netns_address}:{http_port}/")
    assert not http_ok(f"{sidecar.group(1)}/healthz")
