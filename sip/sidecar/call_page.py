"""The browser call page (``GET /call/``) and its token endpoint (``POST /call/token``).

A person with a browser is a ``webrtc`` caller: the page (built from ``web/`` by ``make web``)
joins a fresh LiveKit room with ``livekit-client`` and the join token dispatches the agent, as
``trunkline token`` does for the hosted playground. Only bridge mode serves it, because only
then does this process hold LiveKit credentials to sign with.

The endpoint is the page's whole backend, and the only part a stranger can reach, so it is
strict: one token per request for a new room ``web-<random>`` and a random identity, valid for
joining for :data:`TOKEN_TTL` only, allowed to publish the microphone and nothing else. The API
secret signs it here and never leaves this process. Each token can start an agent session —
model time someone pays for — so tokens are rate-limited per client address, and the request
must be a small JSON object (``{}`` or ``{"name": ...}``): a JSON body cannot be posted
cross-site without a CORS preflight, which this server never grants, so other sites cannot
mint tokens through their visitors' browsers. Every refusal is a 4xx with one log line.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from sip.browser_token import join_token, websocket_url
from trunkline.config import LiveKitCredentials

logger = logging.getLogger(__name__)

PAGE_PATH = "/call/"
TOKEN_PATH = "/call/token"
#: where ``make web`` writes the built page (git-ignored)
DEFAULT_PAGE_DIR = Path(__file__).resolve().parents[2] / "web" / "dist"
#: long enough to join on a slow connection; a connected caller stays connected after it
TOKEN_TTL = timedelta(minutes=2)
DEFAULT_PER_MINUTE = 6
MAX_BODY_BYTES = 1024
MAX_NAME_CHARS = 64
#: addresses remembered by the rate limiter; the least recently seen is forgotten first
MAX_TRACKED_ADDRESSES = 10_000
#: the page is allowed to talk only to this server and to LiveKit (any ws/wss/https host: a
#: LiveKit Cloud project may hand the client a regional URL of its own)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss: http: https:; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class RateLimiter:
    """A token bucket per key: ``per_minute`` tokens, refilled evenly over a minute.

    Bursts up to ``per_minute`` are allowed (a person who hangs up and calls again at once is
    not refused); sustained use is held to the rate.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_ADDRESSES,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token for ``key``: 0.0 when allowed, else seconds until one is available."""
        now = self._clock()
        tokens, since = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - since) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait


@dataclass(frozen=True)
class CallPage:
    credentials: LiveKitCredentials
    agent_name: str
    limiter: RateLimiter
    page_dir: Path


CALL_PAGE = web.AppKey("trunkline_call_page", CallPage)


class BadRequest(Exception):
    """A request the endpoint refuses: the HTTP status and a message for client and log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _read_request(request: web.Request) -> dict[str, Any]:
    """The JSON object body, at most :data:`MAX_BODY_BYTES`; :class:`BadRequest` otherwise."""
    if request.method != "POST":
        raise BadRequest(405, f"{request.method} is not allowed; use POST")
    if request.content_type != "application/json":
        raise BadRequest(415, "the body must be JSON (Content-Type: application/json)")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    if unknown := sorted(set(body) - {"name"}):
        raise BadRequest(400, f"unknown fields {unknown}; only 'name' is allowed")
    return body


def _display_name(body: dict[str, Any]) -> str | None:
    name = body.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise BadRequest(400, f"'name' must be printable text of at most {MAX_NAME_CHARS} chars")
    return name.strip() or None


def _refusal(request: web.Request, bad: BadRequest) -> web.Response:
    logger.warning(
        "call page: refused %s %s from %s: %s",
        request.method,
        request.path,
        request.remote,
        bad.message,
    )
    return web.json_response(
        {"error": bad.message},
        status=bad.status,
        headers={"Allow": "POST"} if bad.status == 405 else None,
    )


async def token(request: web.Request) -> web.Response:
    page = request.app[CALL_PAGE]
    try:
        name = _display_name(await _read_request(request))
    except BadRequest as bad:
        return _refusal(request, bad)
    address = request.remote or "unknown"
    wait = page.limiter.take(address)
    if wait > 0:
        retry = math.ceil(wait)
        logger.warning("call page: %s is over its token rate; retry in %d s", address, retry)
        return web.json_response(
            {"error": "too many calls from your address", "retry_after": retry},
            status=429,
            headers={"Retry-After": str(retry)},
        )
    room = f"web-{secrets.token_hex(6)}"
    identity = f"caller-{secrets.token_hex(6)}"
    jwt = join_token(
        page.credentials,
        room=room,
        identity=identity,
        name=name,
        agent=page.agent_name,
        ttl=TOKEN_TTL,
        publish_sources=["microphone"],
    )
    logger.info("call page: token for room %s (identity %s) to %s", room, identity, address)
    return web.json_response(
        {
            "url": websocket_url(page.credentials.url),
            "token": jwt,
            "room": room,
            "identity": identity,
        },
        headers={"Cache-Control": "no-store"},
    )


async def index(request: web.Request) -> web.StreamResponse:
    index_html = request.app[CALL_PAGE].page_dir / "index.html"
    if not index_html.is_file():
        logger.warning("call page: %s is missing (run `make web`)", index_html)
        raise web.HTTPServiceUnavailable(text="The call page is not built here: run `make web`.")
    return web.FileResponse(
        index_html,
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


async def to_page(_: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(PAGE_PATH)


def add_call_page(
    app: web.Application,
    credentials: LiveKitCredentials,
    agent_name: str,
    *,
    per_minute: int = DEFAULT_PER_MINUTE,
    page_dir: Path = DEFAULT_PAGE_DIR,
) -> None:
    """Serve the page and its token endpoint on ``app`` (a bridge-mode sidecar)."""
    app[CALL_PAGE] = CallPage(credentials, agent_name, RateLimiter(per_minute), page_dir)
    app.router.add_route("*", TOKEN_PATH, token)
    app.router.add_get(PAGE_PATH, index)
    app.router.add_get(PAGE_PATH.rstrip("/"), to_page)
    if page_dir.is_dir():
        app.router.add_static(PAGE_PATH, page_dir)
    else:
        logger.warning("call page: %s does not exist; run `make web` to build the page", page_dir)
