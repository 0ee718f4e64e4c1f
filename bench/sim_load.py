"""Does the simulator keep its timing model when many calls share it?

Starts ``trunkline sim`` (steady chunking: 100 ms deltas every 83.3 ms after a 200 ms think
time) as its own process, then runs N concurrent WebSocket clients against it. Every client
streams line noise in 100 ms appends at real time (so server VAD runs as in a call) and asks for
three replies in a row; for each audio delta it records how late it arrived against the
schedule the timing model promises, measured from that response's ``response.created``.

Reports per N: deltas measured, lateness p50 / p95 / max, and the simulator process's CPU use
(share of one core). N=1 is the same-run reference. Usage: ``python bench/sim_load.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import numpy as np
import psutil

from agent.sim.timing import STEADY_CHUNK_S, STEADY_SPEED

THINK_S = 0.2
RATE = 24000
REPLIES = 3
GAP_S = STEADY_CHUNK_S / STEADY_SPEED


async def one_call(ws_url: str, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    lateness: list[float] = []
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url + "?model=bench", headers={"Authorization": "Bearer b"}) as ws,
    ):

        async def talk() -> None:
            start = time.monotonic()
            for n in range(10**6):
                noise = (rng.standard_normal(RATE // 10) * 30).astype(np.int16).tobytes()
                audio = base64.b64encode(noise).decode()
                await ws.send_str(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
                await asyncio.sleep(max(0.0, start + (n + 1) * 0.1 - time.monotonic()))

        talker = asyncio.create_task(talk())
        try:
            for _ in range(REPLIES):
                await ws.send_str(json.dumps({"type": "response.create"}))
                created = index = None
                while True:
                    event = json.loads((await ws.receive()).data)
                    now = time.monotonic()
                    if event["type"] == "response.created":
                        created, index = now, 0
                    elif event["type"] == "response.output_audio.delta":
                        assert created is not None and index is not None
                        lateness.append(now - (created + THINK_S + index * GAP_S))
                        index += 1
                    elif event["type"] == "response.done":
                        break
        finally:
            talker.cancel()
    return lateness


async def measure(ws_url: str, calls: int, server: psutil.Process) -> str:
    server.cpu_percent()
    results = await asyncio.gather(*(one_call(ws_url, seed) for seed in range(calls)))
    cpu = server.cpu_percent()
    late_ms = np.array([x for r in results for x in r]) * 1000
    p50, p95 = np.percentile(late_ms, [50, 95])
    return (
        f"| {calls} | {len(late_ms)} | {p50:.1f} | {p95:.1f} | {late_ms.max():.1f} | {cpu:.0f} % |"
    )


async def main() -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trunkline.cli", "sim", "--port", "0",
        "--think-ms", str(THINK_S * 1000), "--chunking", "steady",
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        while not (
            m := re.search(rb"listening on (ws://\S+)", line := await proc.stderr.readline())
        ):
            if not line:
                raise RuntimeError("trunkline sim exited before listening")
        ws_url = m.group(1).decode()
        # keep draining the server's log so it never blocks on a full pipe
        drain = asyncio.create_task(proc.stderr.read())
        server = psutil.Process(proc.pid)
        print("| concurrent calls | deltas | late p50 ms | late p95 ms | late max ms "
              "| simulator CPU (one core = 100 %) |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- |")
        for calls in (1, 8, 24):
            print(await measure(ws_url, calls, server), flush=True)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await proc.wait()
        if drain is not None:
            await drain
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
