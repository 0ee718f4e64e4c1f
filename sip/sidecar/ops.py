"""What operators and orchestrators ask the sidecar: is it ready for calls, and the metrics.

``/readyz`` answers 200 only while this process would answer a new call well: not draining,
under ``TRUNKLINE_MAX_CALLS``, and with what the call needs reachable — the model in local mode,
LiveKit in bridge mode. A load balancer asks every few seconds on every replica, so each
dependency is probed at most once per :data:`CACHE_S` (concurrent asks share one probe) and a
probe gets :data:`PROBE_TIMEOUT_S`: readiness stays cheap for this process and for what it
probes. ``/healthz`` (in ``app``) is liveness only: a draining sidecar is alive and must not be
restarted.

``/metrics`` is Prometheus' text exposition of ``trunkline.metrics`` (and whatever else the
process registered, such as LiveKit's). Expose only ``/twilio/*`` to the internet; scrape these
from inside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

logger = logging.getLogger(__name__)

#: How long a probe's answer stands before the next readiness question probes again.
CACHE_S: Final = 5.0
PROBE_TIMEOUT_S: Final = 2.0

Probe = Callable[[], Awaitable[str | None]]
"""A dependency check: None when it is usable, else why not (one short line)."""


class CachedCheck:
    """A named probe run at most once per ``ttl_s``; callers meanwhile get its last answer."""

    def __init__(
        self,
        name: str,
        probe: Probe,
        *,
        ttl_s: float = CACHE_S,
        timeout_s: float = PROBE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.probe = probe
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.clock = clock
        self.probes = 0
        self._answer: str | None = None
        self._answered_at: float | None = None
        self._running: asyncio.Future[str | None] | None = None

    async def __call__(self) -> str | None:
        if self._answered_at is not None and self.clock() - self._answered_at < self.ttl_s:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._probe())
        return await asyncio.shield(self._running)

    async def _probe(self) -> str | None:
        self.probes += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self.probe()
        except TimeoutError:
            answer = f"no answer within {self.timeout_s:g} s"
        except Exception as exc:
            answer = str(exc) or type(exc).__name__
        if answer is not None and answer != self._answer:
            logger.warning("readiness: %s is not usable: %s", self.name, answer)
        self._answer, self._answered_at, self._running = answer, self.clock(), None
        return answer


def http_probe(target: Callable[[], tuple[str, dict[str, str]] | None]) -> Probe:
    """Reachable when ``target()``'s URL answers a GET at all, short of a server error or
    refused credentials (a 404 from an endpoint that only speaks WebSocket shows it is up).
    A session per probe: probes are seconds apart, and nothing is left open between them."""

    async def probe() -> str | None:
        found = target()
        if found is None:
            return "not started"
        url, headers = found
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(url, headers=headers, allow_redirects=False) as resp,
            ):
                status = resp.status
        except aiohttp.ClientError as exc:
            return f"{url}: {exc or type(exc).__name__}"
        if status in (401, 403):
            return f"{url} refused the credentials (HTTP {status})"
        if status >= 500:
            return f"{url} answered HTTP {status}"
        return None

    return probe


async def metrics_endpoint(_: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def readiness(
    *, draining: bool, active_calls: int, max_calls: int, checks: Sequence[CachedCheck]
) -> tuple[bool, dict[str, object]]:
    """Whether a new call would be answered well, and the body ``/readyz`` explains it with."""
    full = active_calls >= max_calls
    verdicts: dict[str, str | None] = {
        "draining": "draining: no new calls" if draining else None,
        "capacity": f"{active_calls} of {max_calls} calls in progress" if full else None,
    }
    if not draining:  # a draining process will not be ready again: probing costs for nothing
        for check in checks:
            verdicts[check.name] = await check()
    ready = all(v is None for v in verdicts.values())
    return ready, {
        "ready": ready,
        "checks": {name: v or "ok" for name, v in verdicts.items()},
        "active_calls": active_calls,
        "max_calls": max_calls,
    }
