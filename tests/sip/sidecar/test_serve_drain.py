"""A deploy, as the real ``trunkline serve`` sees it: SIGTERM with a call in flight.

The sidecar runs as its own process (local mode, the simulator) and is called by the simulated
Twilio caller; what Twilio would see — the caller's result, the webhook's TwiML, ``/readyz`` —
is checked from outside, and the process's own log (JSON: its stderr is not a terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from tests.waiting import eventually
from trunkline.child import MODE_VARIABLES, free_port, wait_ready

pytestmark = pytest.mark.slow

FALLBACK = "https://sidecar-b.example.com/twilio/voice"
SPEECH = load_speech(default_speech())
#: on a machine shared by several test runs, starting the sidecar or hearing a reply can be slow
STEP_S = 60.0


@dataclass
class Sidecar:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    def lines(self) -> list[dict[str, object]]:
        """Every line it logged, each of which must be a JSON object."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    async def exited(self) -> int:
        async with asyncio.timeout(STEP_S):
            return await self.process.wait()

    async def call(self, call_sid: str, **options: object) -> CallResult:
        defaults: dict[str, object] = {"turns": 2, "linger_s": 0.5, "quiet_ms": 500}
        async with aiohttp.ClientSession() as http:
            chosen: dict[str, object] = {**defaults, **options, "call_sid": call_sid}
            opts = CallerOptions(url=self.url, speech=SPEECH, **chosen)  # type: ignore[arg-type]
            return await SimulatedCaller(opts, http).run()

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as http, http.get(self.url + path) as resp:
            return resp.status, await resp.json()

    async def webhook(self, call_sid: str) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + "/twilio/voice", data={"CallSid": call_sid}) as resp,
        ):
            assert resp.status == 200
            return await resp.text()

    async def active_calls(self) -> int:
        _, health = await self.get("/healthz")
        count = health["active_calls"]
        assert isinstance(count, int)
        return count


@contextlib.asynccontextmanager
async def sidecar(tmp_path: Path, **settings: str) -> AsyncIterator[Sidecar]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    env |= {"TRUNKLINE_FALLBACK_URL": FALLBACK, **settings}
    log = tmp_path / "sidecar.log"
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "trunkline.cli", "serve", "--port", str(port),
            "--env-file", os.devnull, "--sim-think-ms", "300",
            env=env, stderr=stderr,
        )  # fmt: skip
    side = Sidecar(process, f"http://127.0.0.1:{port}", log)
    try:
        await wait_ready(side.url, STEP_S)
        yield side
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def until_in_call(side: Sidecar) -> None:
    async def in_call() -> bool:
        return await side.active_calls() > 0

    await eventually(in_call, within_s=STEP_S, every_s=0.1)


async def test_a_deploy_lets_the_call_in_flight_finish_and_sends_new_calls_elsewhere(
    tmp_path: Path,
) -> None:
    sid = "CA" + "d" * 32
    async with sidecar(tmp_path) as side:
        call = asyncio.create_task(side.call(sid))
        await until_in_call(side)
        side.process.send_signal(signal.SIGTERM)

        async def draining() -> bool:
            return (await side.get("/readyz"))[0] == 503

        await eventually(draining, within_s=STEP_S, every_s=0.05)
        _, ready = await side.get("/readyz")
        assert ready["ready"] is False
        twiml = await side.webhook("CA" + "e" * 32)
        assert f'<Redirect method="POST">{FALLBACK}</Redirect>' in twiml
        assert (await side.get("/healthz"))[1]["draining"] is True
        result = await call
        assert await side.exited() == 0
    # the call went on as if nothing had happened: every turn answered, the caller hung up
    assert [t.turn for t in result.turns] == [1, 2]
    assert all(t.latency_ms is not None and t.heard_ms > 0 for t in result.turns)
    assert result.hung_up_by == "caller"
    lines = side.lines()
    messages = [str(line["message"]) for line in lines]
    assert any(m.startswith("SIGTERM: draining") for m in messages)
    assert any(m.startswith("drained: no calls left") for m in messages)
    # every line of the call says which call it was, and by which path
    of_call = [line for line in lines if sid in str(line["message"])]
    assert len(of_call) >= 3
    assert all(line.get("call_id") == sid for line in of_call), of_call
    streamed = [line for line in of_call if line["logger"] != "sip.sidecar.app"]  # not webhook
    assert streamed and all(line.get("path") == "twilio-ws" for line in streamed), streamed


async def test_a_second_signal_hangs_up_at_once(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as side:
        call = asyncio.create_task(side.call("CA" + "f" * 32, turns=5))
        await until_in_call(side)
        side.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert not call.done()
        side.process.send_signal(signal.SIGTERM)
        result = await asyncio.wait_for(call, STEP_S)
        assert await side.exited() == 0
    assert result.hung_up_by == "agent" and result.close_code == 1000
    assert len(result.turns) < 5


async def test_when_the_drain_runs_out_the_caller_hears_a_goodbye_then_the_hang_up(
    tmp_path: Path,
) -> None:
    async with sidecar(tmp_path, TRUNKLINE_DRAIN_TIMEOUT="1") as side:
        call = asyncio.create_task(side.call("CA" + "9" * 32, turns=8, reply_timeout_s=30))
        await until_in_call(side)
        side.process.send_signal(signal.SIGTERM)
        ran_out = time.time() + 1.0
        result = await asyncio.wait_for(call, STEP_S)
        assert await side.exited() == 0
    assert result.hung_up_by == "agent" and result.close_code == 1000
    # after the drain ran out: the goodbye (a few seconds of speech), then nothing
    after = sum(size for at, size in result.media if at >= ran_out) / 8000
    assert after > 1.5, after
    messages = [str(line["message"]) for line in side.lines()]
    assert any(m.startswith("drain timeout (1 s): ending 1 calls with a goodbye") for m in messages)
    assert not any("did not confirm playback" in m for m in messages)  # it was heard out
