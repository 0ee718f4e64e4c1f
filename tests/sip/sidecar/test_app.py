"""The sidecar app through real HTTP and WebSocket connections, with a recording backend.

The backend here stands for the agent: it records what the handler delivers, so these tests
pin the handler's own duties — security, limits, protocol strictness, cleanup.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from sip import g711
from sip.sidecar.app import create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from tests.waiting import eventually
from trunkline.config import Settings, settings_from_env

PUBLIC = "https://sidecar.example.com"


@dataclass
class RecordingBackend:
    info: CallInfo
    link: TwilioLink
    control: CallControl
    audio: list[npt.NDArray[np.int16]] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    started: bool = False
    closed: int = 0

    async def start(self) -> None:
        self.started = True

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        self.audio.append(pcm)

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    async def aclose(self) -> None:
        self.closed += 1


class Harness:
    def __init__(self, settings: Settings) -> None:
        self.backends: list[RecordingBackend] = []
        self.app = create_app(settings, self._factory)
        self.client: TestClient[web.Request, web.Application] | None = None

    def _factory(self, info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backend = RecordingBackend(info, link, control)
        self.backends.append(backend)
        return backend


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(settings_from_env({}))
    async with TestClient(TestServer(h.app)) as client:
        h.client = client
        yield h


async def twiml(
    client: TestClient[web.Request, web.Application],
    call_sid: str,
    headers: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    resp = await client.post(
        "/twilio/voice", data={"CallSid": call_sid, "From": "+1555", "To": "+1666"}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    url = re.search(r'<Stream url="([^"]+)"', text)
    assert url is not None, text
    params = dict(re.findall(r'<Parameter name="([^"]+)" value="([^"]*)"', text))
    return url.group(1), params


def start_msg(call_sid: str, params: dict[str, str], sid: str = "MZ1") -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": sid,
            "start": {
                "streamSid": sid,
                "accountSid": "AC1",
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media_msg(seq: int, pcm: npt.NDArray[np.int16], ts: int, sid: str = "MZ1") -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(seq),
            "streamSid": sid,
            "media": {
                "track": "inbound",
                "chunk": str(seq),
                "timestamp": str(ts),
                "payload": base64.b64encode(g711.encode(pcm)).decode(),
            },
        }
    )


async def test_webhook_twiml_points_at_media_stream_with_parameters(harness: Harness) -> None:
    assert harness.client is not None
    url, params = await twiml(harness.client, "CA100")
    assert url.startswith("ws://") and url.endswith("/twilio/media")
    assert params["CallSid"] == "CA100" and params["From"] == "+1555" and params["To"] == "+1666"
    assert params["trunkline_stream_token"]


async def test_call_delivers_audio_and_dtmf_and_survives_garbage(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    _, params = await twiml(client, "CA1")
    ws = await client.ws_connect("/twilio/media")
    await ws.send_str('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    await ws.send_str(media_msg(1, np.zeros(160, np.int16), 0))  # before start: dropped
    await ws.send_str(start_msg("CA1", params))
    tone = (8000 * np.sin(np.arange(160) / 3)).astype(np.int16)
    await ws.send_str(media_msg(2, tone, 0))
    for bad in [
        "{oops",
        '{"event":"nope"}',
        json.dumps({"event": "media"}),
        start_msg("CA1", params),
    ]:
        await ws.send_str(bad)
    await ws.send_bytes(b"\x00\x01")
    await ws.send_str(media_msg(3, tone, 60))  # 40 ms missing → filled
    await ws.send_str(
        json.dumps(
            {
                "event": "dtmf",
                "streamSid": "MZ1",
                "sequenceNumber": "4",
                "dtmf": {"track": "inbound_track", "digit": "7"},
            }
        )
    )
    await eventually(lambda: harness.backends and harness.backends[0].digits)
    backend = harness.backends[0]
    assert backend.started and backend.info.from_number == "+1555"
    assert "trunkline_stream_token" not in backend.info.custom_parameters
    assert len(backend.audio) == 2
    np.testing.assert_array_equal(backend.audio[0], g711.decode(g711.encode(tone)))
    assert len(backend.audio[1]) == 160 + 320 and not backend.audio[1][:320].any()
    assert backend.digits == ["7"]
    await ws.send_str(
        json.dumps(
            {
                "event": "stop",
                "sequenceNumber": "5",
                "streamSid": "MZ1",
                "stop": {"accountSid": "AC1", "callSid": "CA1"},
            }
        )
    )
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await eventually(lambda: backend.closed == 1)
    resp = await client.get("/healthz")
    assert (await resp.json())["active_calls"] == 0


async def test_stream_without_valid_token_never_creates_a_backend(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    _, params = await twiml(client, "CA2")
    for bad in ({}, params | {"trunkline_stream_token": "forged.1.x"}):
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA2", bad))
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1008
    # token for CA2 presented by another call
    ws = await client.ws_connect("/twilio/media")
    await ws.send_str(start_msg("CA3", params))
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
    assert harness.backends == []


async def test_oversized_message_closes_only_that_call(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    _, p1 = await twiml(client, "CA1")
    _, p2 = await twiml(client, "CA2")
    good = await client.ws_connect("/twilio/media")
    bad = await client.ws_connect("/twilio/media")
    await good.send_str(start_msg("CA1", p1, "MZg"))
    await bad.send_str(start_msg("CA2", p2, "MZb"))
    await eventually(lambda: len(harness.backends) == 2)
    await bad.send_str("x" * (70 * 1024))
    msg = await bad.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009
    await good.send_str(media_msg(2, np.ones(160, np.int16), 0, sid="MZg"))
    good_backend = next(b for b in harness.backends if b.info.call_sid == "CA1")
    await eventually(lambda: good_backend.audio)
    assert good_backend.closed == 0
    await good.close()


async def test_hang_up_from_backend_closes_stream(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    _, params = await twiml(client, "CA9")
    ws = await client.ws_connect("/twilio/media")
    await ws.send_str(start_msg("CA9", params))
    await eventually(lambda: harness.backends)
    backend = harness.backends[0]
    backend.link.send_media(b"\xff" * 160)
    await backend.control.hang_up("agent ended the call")
    first = await ws.receive(timeout=5)
    assert json.loads(first.data)["event"] == "media"  # queued goodbye audio is drained first
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE


async def test_call_limit_refuses_with_spoken_apology() -> None:
    settings = settings_from_env({"TRUNKLINE_MAX_CALLS": "1"})
    h = Harness(settings)
    async with TestClient(TestServer(h.app)) as client:
        _, params = await twiml(client, "CA1")
        ws = await client.ws_connect("/twilio/media")
        await ws.send_str(start_msg("CA1", params))
        await eventually(lambda: h.backends)
        resp = await client.post("/twilio/voice", data={"CallSid": "CA2"})
        body = await resp.text()
        assert "<Say>" in body and "<Hangup" in body and "<Stream" not in body
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await client.ws_connect("/twilio/media")
        assert exc.value.status == 503
        await ws.close()


async def test_signatures_checked_on_webhook_and_upgrade() -> None:
    settings = Settings(public_url=PUBLIC, twilio_auth_token="tok")
    h = Harness(settings)
    validator = RequestValidator("tok")
    form = {"CallSid": "CA1", "From": "+1555", "To": "+1666"}
    async with TestClient(TestServer(h.app)) as client:
        good = validator.compute_signature(f"{PUBLIC}/twilio/voice", form)
        resp = await client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": good})
        assert resp.status == 200
        assert 'url="wss://sidecar.example.com/twilio/media"' in await resp.text()
        for headers in ({}, {"X-Twilio-Signature": "bogus"}):
            resp = await client.post("/twilio/voice", data=form, headers=headers)
            assert resp.status == 403
        ws_sig = validator.compute_signature("wss://sidecar.example.com/twilio/media", {})
        ws = await client.ws_connect("/twilio/media", headers={"X-Twilio-Signature": ws_sig})
        await ws.close()
        for headers in ({}, {"X-Twilio-Signature": good}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                await client.ws_connect("/twilio/media", headers=headers)
            assert exc.value.status == 403
