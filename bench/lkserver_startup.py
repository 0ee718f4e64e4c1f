"""How long the LiveKit test server's fixture takes to be usable, against references.

Run as root: ``.venv/bin/python -m bench.lkserver_startup``. It enters the private network
namespace first (as the pytest plugin does), then measures, in the same run:

- entering the namespace (once);
- server start + stop (what the ``livekit_server`` fixture costs per test), against a bare
  aiohttp application's start + stop;
- an SDK participant's ``Room.connect`` (signalling + ICE + DTLS of the publisher connection),
  against a signalling-only join (WebSocket + JoinResponse, no WebRTC).

Prints medians and the ratios; the machine is shared, so the ratios are the figures to quote.
"""

from __future__ import annotations

import time

from tests.livekit_server import netns

_t0 = time.perf_counter()
NAMESPACE = netns.enter()
ENTER_S = time.perf_counter() - _t0

import asyncio  # noqa: E402  (threads must start inside the namespace)
import statistics  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from livekit import rtc  # noqa: E402

from tests.livekit_server.server import LiveKitTestServer, ServerConfig  # noqa: E402

STARTS = 30
JOINS = 8


async def median_s(action: Callable[[], Awaitable[None]], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def start_stop_test_server() -> None:
    async with LiveKitTestServer(ServerConfig(host=NAMESPACE.address)):
        pass


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def start_stop_bare_aiohttp() -> None:
    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, NAMESPACE.address, 0).start()
    await runner.cleanup()


async def main() -> None:
    server_s = await median_s(start_stop_test_server, STARTS)
    bare_s = await median_s(start_stop_bare_aiohttp, STARTS)
    async with LiveKitTestServer(ServerConfig(host=NAMESPACE.address)) as server:
        count = 0

        async def sdk_join() -> None:
            nonlocal count
            count += 1
            room = rtc.Room()
            await room.connect(server.url, server.token(f"sdk-{count}", "bench"))
            await room.disconnect()

        async def signalling_join() -> None:
            nonlocal count
            count += 1
            token = server.token(f"raw-{count}", "bench")
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(
                    f"{server.url}/rtc", headers={"Authorization": f"Bearer {token}"}
                ) as ws,
            ):
                await ws.receive(timeout=5)

        await sdk_join()  # warm-up: loads livekit's native runtime
        sdk_s = await median_s(sdk_join, JOINS)
        raw_s = await median_s(signalling_join, JOINS)
    print(f"enter namespace          {ENTER_S * 1000:8.1f} ms (once per test run)")
    print(f"server start+stop        {server_s * 1000:8.1f} ms (median of {STARTS})")
    print(f"bare aiohttp start+stop  {bare_s * 1000:8.1f} ms  ratio {server_s / bare_s:5.2f}")
    print(f"SDK Room.connect         {sdk_s * 1000:8.1f} ms (median of {JOINS})")
    print(f"signalling-only join     {raw_s * 1000:8.1f} ms  ratio {sdk_s / raw_s:5.2f}")


if __name__ == "__main__":
    asyncio.run(main())
