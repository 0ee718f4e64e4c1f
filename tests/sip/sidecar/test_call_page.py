"""The call page's token endpoint and static files, over real HTTP (aiohttp's test server).

The endpoint is reachable by anyone who can reach the sidecar, so most of these pin what it
refuses and how: a 4xx with a JSON reason and one log line, never a 5xx, a traceback or the
secret.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sip.sidecar import serve
from sip.sidecar.call_page import (
    MAX_BODY_BYTES,
    PAGE_PATH,
    TOKEN_PATH,
    TOKEN_TTL,
    RateLimiter,
    add_call_page,
)
from sip.twilio.pacing import Pacing
from trunkline import cli
from trunkline.config import LiveKitCredentials, settings_from_env

KEY = "APIcallpage"
SECRET = "call-page-test-secret-of-at-least-32-bytes"
CREDENTIALS = LiveKitCredentials("https://example.livekit.cloud", KEY, SECRET)
JSON = {"Content-Type": "application/json"}

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def page_dir(tmp_path: Path) -> Path:
    built = tmp_path / "dist"
    built.mkdir()
    (built / "index.html").write_text("<!doctype html><title>call</title>")
    (built / "main.js").write_text("console.log('call')")
    return built


async def client_for(app: web.Application) -> AsyncIterator[Client]:
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def client(page_dir: Path) -> AsyncIterator[Client]:
    app = web.Application()
    add_call_page(app, CREDENTIALS, "front-desk", per_minute=3, page_dir=page_dir)
    async for c in client_for(app):
        yield c


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sip.sidecar.call_page"]


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
    return decoded


async def test_a_token_joins_a_new_room_with_the_agent_and_only_a_microphone(
    client: Client,
) -> None:
    resp = await client.post(TOKEN_PATH, json={})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["url"] == "wss://example.livekit.cloud"
    assert body["room"].startswith("web-") and body["identity"].startswith("caller-")
    assert SECRET not in await resp.text()
    grant = claims(body["token"])
    assert grant["sub"] == body["identity"]
    assert grant["video"]["room"] == body["room"] and grant["video"]["roomJoin"] is True
    assert grant["video"]["canPublishSources"] == ["microphone"]
    assert grant["roomConfig"] == {"agents": [{"agentName": "front-desk"}]}
    assert grant["exp"] - grant["nbf"] == TOKEN_TTL.total_seconds()


async def test_every_visitor_gets_a_room_and_identity_of_their_own(client: Client) -> None:
    first = await (await client.post(TOKEN_PATH, json={})).json()
    second = await (await client.post(TOKEN_PATH, json={"name": "Ada"})).json()
    assert first["room"] != second["room"] and first["identity"] != second["identity"]
    assert claims(second["token"])["name"] == "Ada"


@pytest.mark.parametrize(
    ("send", "status", "reason"),
    [
        ({"method": "GET"}, 405, "GET is not allowed; use POST"),
        ({"method": "PUT", "json": {}}, 405, "PUT is not allowed; use POST"),
        ({"data": "name=Ada"}, 415, "must be JSON"),
        ({"data": "{not json", "headers": JSON}, 400, "not valid JSON"),
        ({"data": b"\xff\xfe", "headers": JSON}, 400, "not valid JSON"),
        ({"json": ["a"]}, 400, "must be a JSON object"),
        ({"json": {"room": "mine"}}, 400, "unknown fields ['room']"),
        ({"json": {"name": 7}}, 400, "'name' must be printable text"),
        ({"json": {"name": "x" * 65}}, 400, "'name' must be printable text"),
        ({"json": {"name": "a\nb"}}, 400, "'name' must be printable text"),
        ({"json": {"name": "x" * 2000}}, 413, f"over {MAX_BODY_BYTES} bytes"),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_one_log_line(
    client: Client,
    caplog: pytest.LogCaptureFixture,
    send: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    method = send.pop("method", "POST")
    with caplog.at_level(logging.INFO, logger="sip.sidecar.call_page"):
        resp = await client.request(method, TOKEN_PATH, **send)
    assert resp.status == status
    assert reason in (await resp.json())["error"]
    if status == 405:
        assert resp.headers["Allow"] == "POST"
    (record,) = logged(caplog)
    assert record.levelno == logging.WARNING and reason in record.getMessage()


async def test_an_oversized_body_without_a_length_is_cut_off_at_the_limit(
    client: Client,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * 1024

    resp = await client.post(TOKEN_PATH, data=chunks(), headers=JSON)
    assert resp.status == 413


async def test_tokens_are_rate_limited_per_address_with_retry_after(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        assert (await client.post(TOKEN_PATH, json={})).status == 200
    with caplog.at_level(logging.WARNING, logger="sip.sidecar.call_page"):
        resp = await client.post(TOKEN_PATH, json={})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 20
    assert "token" not in await resp.json()
    (record,) = logged(caplog)
    assert "over its token rate" in record.getMessage()


def test_the_limiter_refills_evenly_and_keeps_addresses_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(6, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)  # one token per 10 s
    assert limiter.take("b") == 0.0
    now[0] += 10.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0.0


def test_the_limiter_forgets_the_least_recent_address_beyond_its_table() -> None:
    limiter = RateLimiter(1, clock=lambda: 0.0, max_keys=2)
    limiter.take("a")
    limiter.take("b")
    limiter.take("c")  # "a" is forgotten: its next request starts a full bucket
    assert limiter.take("a") == 0.0
    assert limiter.take("c") > 0.0


async def test_the_page_is_served_with_a_content_security_policy(client: Client) -> None:
    resp = await client.get(PAGE_PATH)
    assert resp.status == 200
    assert "<title>call</title>" in await resp.text()
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert (await client.get(f"{PAGE_PATH}main.js")).status == 200
    redirect = await client.get(PAGE_PATH.rstrip("/"), allow_redirects=False)
    assert redirect.status == 308 and redirect.headers["Location"] == PAGE_PATH


async def test_an_unbuilt_page_says_how_to_build_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    with caplog.at_level(logging.WARNING, logger="sip.sidecar.call_page"):
        add_call_page(app, CREDENTIALS, "a", page_dir=tmp_path / "missing")
    assert "run `make web`" in caplog.text
    async for client in client_for(app):
        resp = await client.get(PAGE_PATH)
        assert resp.status == 503 and "make web" in await resp.text()
        assert (await client.post(TOKEN_PATH, json={})).status == 200


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve.configure(parser)
    return parser.parse_args(list(argv))


def bridge_routes(*argv: str) -> set[str]:
    settings = settings_from_env(
        {"LIVEKIT_URL": "ws://127.0.0.1:9", "LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
    )
    assert settings.livekit is not None
    pacing = Pacing(enabled=True, lead_ms=60, prebuffer_ms=60)
    app = serve._bridge_app(serve_args(*argv), settings, settings.livekit, pacing, None, b"")
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_bridge_mode_serves_the_page_unless_told_not_to() -> None:
    assert {PAGE_PATH, TOKEN_PATH} <= bridge_routes()
    assert not {PAGE_PATH, TOKEN_PATH} & bridge_routes("--no-call-page")


def test_the_page_is_refused_in_local_mode_and_so_is_a_bad_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    argv = ["serve", "--env-file", os.devnull, "--call-page", "--call-page-limit", "0"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--call-page needs bridge mode" in err
    assert "--call-page-limit 0 must be a positive number" in err
