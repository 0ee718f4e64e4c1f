"""What the real LiveKit stack costs the tests, against references measured in the same run.

Run as root: ``.venv/bin/python -m bench.stack_startup``. It enters a private network namespace
first (as the test plugin does), then measures:

- the stack (Redis + livekit-server) started until ready and stopped — what the session
  fixture costs once and ``private_stack`` costs per test — against Redis alone started and
  stopped the same way;
- an SDK participant's ``Room.connect`` (signalling, ICE, DTLS) against an HTTP request to the
  same server's root.

Prints medians and the ratios; the machine is shared, so the ratios are the figures to quote.
"""

from __future__ import annotations

import time

from trunkline.stack import netns

_t0 = time.perf_counter()
NAMESPACE = netns.enter()
ENTER_S = time.perf_counter() - _t0

import asyncio  # noqa: E402  (threads must start inside the namespace)
import statistics  # noqa: E402
import tempfile  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from livekit import api, rtc  # noqa: E402

from trunkline.stack import LocalStack, StackOptions, probes  # noqa: E402
from trunkline.stack.binaries import REDIS, require  # noqa: E402
from trunkline.stack.ports import free_ports  # noqa: E402
from trunkline.stack.service import Service  # noqa: E402

STARTS = 5
JOINS = 8


def median_s(action: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def stack_start_stop(run: Path) -> None:
    with LocalStack(StackOptions(host=NAMESPACE.address, run_dir=run, sip=False)):
        pass


def redis_start_stop(run: Path) -> None:
    port = free_ports(NAMESPACE.address).redis
    redis = Service(
        "redis",
        [str(require(REDIS)), "--bind", "127.0.0.1", "--port", str(port), "--save", ""],
        run / "redis-alone.log",
        lambda: probes.redis_ping("127.0.0.1", port),
    )
    redis.start()
    redis.stop()


async def joins(stack: LocalStack) -> tuple[float, float]:
    token = (
        api.AccessToken(stack.api_key, stack.api_secret)
        .with_identity("bench")
        .with_grants(api.VideoGrants(room_join=True, room="bench"))
        .to_jwt()
    )
    connects, pings = [], []
    for _ in range(JOINS):
        room = rtc.Room()
        start = time.perf_counter()
        await room.connect(stack.url, token)
        connects.append(time.perf_counter() - start)
        await room.disconnect()
        start = time.perf_counter()
        await asyncio.to_thread(urllib.request.urlopen, f"{stack.http_url}/", None, 5)
        pings.append(time.perf_counter() - start)
    return statistics.median(connects), statistics.median(pings)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        stack_s = median_s(lambda: stack_start_stop(run / "stack"), STARTS)
        redis_s = median_s(lambda: redis_start_stop(run), STARTS)
        with LocalStack(
            StackOptions(host=NAMESPACE.address, run_dir=run / "joins", sip=False)
        ) as s:
            connect_s, http_s = asyncio.run(joins(s))
    print(f"enter the namespace: {ENTER_S * 1000:.1f} ms")
    print(
        f"stack start + stop: {stack_s * 1000:.0f} ms; Redis alone: {redis_s * 1000:.0f} ms; "
        f"ratio {stack_s / redis_s:.1f}"
    )
    print(
        f"SDK Room.connect: {connect_s * 1000:.0f} ms; HTTP GET /: {http_s * 1000:.1f} ms; "
        f"ratio {connect_s / http_s:.0f}"
    )


if __name__ == "__main__":
    main()
