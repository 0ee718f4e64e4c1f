"""Running the simulator inside another program, and as ``trunkline sim``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys

import aiohttp
import pytest

from agent.sim.embedded import SimulatorThread, run_simulator
from agent.sim.options import SimOptions
from agent.sim.timing import ThinkTime

AUTH = {"Authorization": "Bearer k"}


async def first_event(ws_url: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url + "?model=gpt-realtime", headers=AUTH) as ws,
    ):
        event: dict[str, object] = json.loads((await ws.receive()).data)
        return event


async def test_run_simulator_reports_where_it_listens() -> None:
    async with run_simulator(SimOptions(), port=0) as sim:
        assert sim.port > 0
        assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
        assert sim.ws_url == f"ws://127.0.0.1:{sim.port}/v1/realtime"
        assert (await first_event(sim.ws_url))["type"] == "session.created"


async def test_a_simulator_thread_serves_a_synchronous_parent() -> None:
    thread = SimulatorThread(SimOptions(think=ThinkTime.fixed(0)))
    base_url = await asyncio.to_thread(thread.start)
    try:
        ws_url = base_url.replace("http://", "ws://") + "/realtime"
        assert (await first_event(ws_url))["type"] == "session.created"
    finally:
        await asyncio.to_thread(thread.stop)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(base_url + "/realtime")


def test_a_simulator_thread_that_cannot_bind_says_so() -> None:
    with SimulatorThread(port=0) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        clash = SimulatorThread(port=port)
        with pytest.raises(RuntimeError, match="failed to start"):
            clash.start()


@pytest.mark.slow
async def test_trunkline_sim_serves_until_terminated() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trunkline.cli", "sim", "--port", "0", "--think-ms", "0",
        "--chunking", "steady", "--seed", "4",
        stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            while not (
                match := re.search(rb"listening on (ws://\S+)", await proc.stderr.readline())
            ):
                pass
        assert (await first_event(match.group(1).decode()))["type"] == "session.created"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = await proc.stderr.read()
            assert await proc.wait() == 0
        assert b"simulator stopped" in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_trunkline_sim_rejects_a_bad_think_spec() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trunkline.cli", "sim", "--think-ms", "whenever"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "unknown think-time spec 'whenever'" in out.stderr
