"""``/readyz`` and ``/metrics``: what they answer, and that readiness stays cheap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sip.sidecar.app import STATE, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.ops import CachedCheck, http_probe
from tests.sip.sidecar.test_app import RecordingBackend, media_msg, start_msg, twiml
from tests.sip.sidecar.test_drain import closed
from tests.waiting import eventually
from trunkline.config import settings_from_env


class Dependency:
    """An HTTP endpoint standing for the model's, whose answer the test chooses."""

    def __init__(self) -> None:
        self.status = 404  # what the simulator answers at /v1/models: up
        self.requests: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self._models)

    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        return web.Response(status=self.status)


@pytest.fixture
async def dependency() -> AsyncIterator[tuple[Dependency, str]]:
    dep = Dependency()
    async with TestServer(dep.app) as server:
        yield dep, str(server.make_url("/v1/models"))


async def test_a_check_probes_at_most_once_per_ttl_and_concurrent_asks_share_it() -> None:
    now = [0.0]
    answers = iter([None, "down", None])
    gate = asyncio.Event()

    async def probe() -> str | None:
        await gate.wait()
        return next(answers)

    check = CachedCheck("model", probe, ttl_s=5.0, clock=lambda: now[0])
    asks = [asyncio.ensure_future(check()) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*asks) == [None] * 10 and check.probes == 1
    now[0] = 4.9
    assert await check() is None and check.probes == 1
    now[0] = 5.0
    assert await check() == "down" and check.probes == 2
    now[0] = 7.0
    assert await check() == "down" and check.probes == 2  # a failure is cached as well
    now[0] = 10.0
    assert await check() is None and check.probes == 3


async def test_a_probe_that_hangs_or_raises_is_an_answer_not_an_error() -> None:
    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    async def raises() -> str | None:
        raise OSError("connection refused")

    assert await CachedCheck("x", hangs, timeout_s=0.05)() == "no answer within 0.05 s"
    assert await CachedCheck("x", raises)() == "connection refused"


async def test_http_probe_reads_up_down_and_refused_credentials(
    dependency: tuple[Dependency, str],
) -> None:
    dep, url = dependency
    probe = http_probe(lambda: (url, {"Authorization": "Bearer k"}))
    assert await probe() is None
    assert dep.requests[0]["Authorization"] == "Bearer k"
    dep.status = 401
    assert await probe() == f"{url} refused the credentials (HTTP 401)"
    dep.status = 503
    assert await probe() == f"{url} answered HTTP 503"
    assert await http_probe(lambda: None)() == "not started"
    refused = await http_probe(lambda: ("http://127.0.0.1:9/v1/models", {}))()
    assert refused is not None and refused.startswith("http://127.0.0.1:9/v1/models: ")


async def test_readiness_follows_the_model_capacity_and_draining(
    dependency: tuple[Dependency, str],
) -> None:
    dep, url = dependency
    now = [0.0]
    check = CachedCheck("model", http_probe(lambda: (url, {})), clock=lambda: now[0])
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    app = create_app(settings_from_env({"TRUNKLINE_MAX_CALLS": "1"}), factory, checks=[check])
    async with TestClient(TestServer(app)) as client:

        async def ready() -> tuple[int, dict[str, str]]:
            resp = await client.get("/readyz")
            return resp.status, (await resp.json())["checks"]

        assert await ready() == (200, {"draining": "ok", "capacity": "ok", "model": "ok"})
        dep.status = 500
        assert (await ready())[0] == 200  # the answer stands for CACHE_S
        now[0] += 5
        status, checks = await ready()
        assert status == 503 and checks["model"] == f"{url} answered HTTP 500"
        dep.status = 404
        now[0] += 5
        assert (await ready())[0] == 200

        _, params = await twiml(client, "CA1")
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA1", params))
        await eventually(lambda: backends)
        status, checks = await ready()
        assert status == 503 and checks["capacity"] == "1 of 1 calls in progress"
        await ws.close()
        await eventually(lambda: app[STATE].active_calls == 0)
        assert (await ready())[0] == 200

        probes = len(dep.requests)
        app[STATE].draining.begin()
        now[0] += 5
        status, checks = await ready()
        assert status == 503 and checks["draining"] == "draining: no new calls"
        assert len(dep.requests) == probes  # a draining process does not probe


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_count_calls_their_ends_refusals_and_protocol_errors() -> None:
    ended = "trunkline_calls_ended_total"
    before = {
        "calls": sample("trunkline_calls_total", path="twilio-ws"),
        "agent": sample(ended, path="twilio-ws", reason="agent"),
        "protocol": sample(ended, path="twilio-ws", reason="protocol_error"),
        "dropped": sample("trunkline_protocol_errors_total", outcome="dropped"),
        "fatal": sample("trunkline_protocol_errors_total", outcome="fatal"),
        "busy": sample("trunkline_calls_refused_total", reason="busy"),
        "token": sample("trunkline_calls_refused_total", reason="bad_stream_token"),
    }
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    app = create_app(settings_from_env({"TRUNKLINE_MAX_CALLS": "1"}), factory)
    async with TestClient(TestServer(app)) as client:
        # a call the agent ends, after one bad message that is only dropped
        _, params = await twiml(client, "CA1")
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA1", params))
        await eventually(lambda: backends)
        assert sample("trunkline_calls_active", path="twilio-ws") >= 1
        resp = await client.post("/twilio/voice", data={"CallSid": "CA2"})  # over the limit
        assert "<Stream" not in await resp.text()
        await ws.send_str('{"event":"nope"}')
        await ws.send_str(media_msg(2, np.ones(160, np.int16), 0))
        hang_up = asyncio.ensure_future(backends[0].control.hang_up("the agent ended the call"))
        await closed(ws)  # the closing handshake needs the caller's side to read
        await hang_up
        await eventually(lambda: app[STATE].active_calls == 0)
        # a call whose stream breaks the protocol
        _, params = await twiml(client, "CA3")
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA3", params))
        await ws.send_str("x" * (70 * 1024))  # over TRUNKLINE_MAX_MESSAGE_BYTES
        assert (await closed(ws)).data == 1009
        await eventually(lambda: app[STATE].active_calls == 0)
        # a stream with a forged token: refused, never a call
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA4", params | {"trunkline_stream_token": "x.1.y"}))
        await closed(ws)
        text = await (await client.get("/metrics")).text()
    assert sample("trunkline_calls_total", path="twilio-ws") == before["calls"] + 2
    assert sample(ended, path="twilio-ws", reason="agent") == before["agent"] + 1
    assert sample(ended, path="twilio-ws", reason="protocol_error") == before["protocol"] + 1
    assert sample("trunkline_protocol_errors_total", outcome="dropped") == before["dropped"] + 1
    assert sample("trunkline_protocol_errors_total", outcome="fatal") == before["fatal"] + 1
    assert sample("trunkline_calls_refused_total", reason="busy") == before["busy"] + 1
    assert sample("trunkline_calls_refused_total", reason="bad_stream_token") == before["token"] + 1
    # and /metrics is the Prometheus text format, with the same figures in it
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["trunkline_calls_limit"].samples[0].value == 1
    (calls,) = [s for s in families["trunkline_calls"].samples if s.labels == {"path": "twilio-ws"}]
    assert calls.name == "trunkline_calls_total" and calls.value == before["calls"] + 2


async def test_healthz_is_still_what_tools_expect() -> None:
    app = create_app(settings_from_env({}), lambda *_: pytest.fail("no call expected"))
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/healthz")).json()
    assert body == {
        "status": "ok",
        "mode": "local",
        "model": "simulator",
        "active_calls": 0,
        "total_calls": 0,
        "draining": False,
    }
    assert json.dumps(body)  # plain JSON for any checker
    assert isinstance(aiohttp.__version__, str)


async def test_a_peer_that_stops_reading_ends_as_a_protocol_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sip.sidecar.link.MAX_QUEUED", 5)
    before = sample("trunkline_calls_ended_total", path="twilio-ws", reason="protocol_error")
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    app = create_app(settings_from_env({}), factory)
    async with TestClient(TestServer(app)) as client:
        _, params = await twiml(client, "CA1")
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA1", params))
        await eventually(lambda: backends)
        for _ in range(10):  # faster than any writer: the queue fills
            backends[0].link.send_media(b"\xff" * 160)
        assert (await closed(ws)).data == 1008
        await eventually(lambda: app[STATE].active_calls == 0)
    after = sample("trunkline_calls_ended_total", path="twilio-ws", reason="protocol_error")
    assert after == before + 1
