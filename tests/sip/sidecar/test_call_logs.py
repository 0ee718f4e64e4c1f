"""What a sidecar call leaves in the log: JSON lines naming the call, and no secret anywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from twilio.request_validator import RequestValidator

from sip.sidecar.app import create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from tests.sip.sidecar.test_app import RecordingBackend, start_msg
from tests.sip.sidecar.test_drain import caller_hangs_up
from tests.waiting import eventually
from trunkline.config import settings_from_env
from trunkline.logs import configure_logging

PUBLIC = "https://voice.example.com"
AUTH_TOKEN = "auth-token-that-must-never-be-logged"
STREAM_SECRET = "stream-secret-that-must-never-be-logged"


class LibraryBackend(RecordingBackend):
    """Logs through a library's logger from inside the call, as the agent session does."""

    async def start(self) -> None:
        await super().start()
        logging.getLogger("livekit.agents").info("a library, inside the call")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("debug", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_call_s_lines_are_json_naming_it_and_carry_no_secret(log: io.StringIO) -> None:
    settings = settings_from_env(
        {
            "PUBLIC_URL": PUBLIC,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TRUNKLINE_STREAM_SECRET": STREAM_SECRET,
        }
    )
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(LibraryBackend(info, link, control))
        return backends[-1]

    validator = RequestValidator(AUTH_TOKEN)
    form = {"CallSid": "CA77", "From": "+15550100001", "To": "+15550100002"}
    app = create_app(settings, factory)
    async with TestClient(TestServer(app)) as client:
        signature = validator.compute_signature(f"{PUBLIC}/twilio/voice", form)
        resp = await client.post(
            "/twilio/voice", data=form, headers={"X-Twilio-Signature": signature}
        )
        body = await resp.text()
        token = body.split('name="trunkline_stream_token" value="')[1].split('"')[0]
        ws_signature = validator.compute_signature("wss://voice.example.com/twilio/media", {})
        ws = await client.ws_connect("/twilio/media", headers={"X-Twilio-Signature": ws_signature})
        await ws.send_str(
            start_msg("CA77", {"trunkline_stream_token": token, "From": form["From"]}, "MZCA77")
        )
        await eventually(lambda: backends and backends[0].started)
        await caller_hangs_up(ws, "CA77")
        await eventually(lambda: backends[0].closed == 1)
        # a forged request is logged as such, without echoing what it carried
        await client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": token})
    text = log.getvalue()
    for secret in (AUTH_TOKEN, STREAM_SECRET, token, signature, ws_signature):
        assert secret not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    of_call = [line for line in lines if "CA77" in line["message"]]
    assert any("answering with a media stream" in line["message"] for line in of_call)
    assert any("ended after" in line["message"] for line in of_call)
    assert all(line["call_id"] == "CA77" for line in of_call)
    stream = [line for line in of_call if line["logger"] == "sip.sidecar.media_stream"]
    assert stream and all(line["path"] == "twilio-ws" for line in stream)
    (library,) = [line for line in lines if line["logger"] == "livekit.agents"]
    assert library["call_id"] == "CA77" and library["path"] == "twilio-ws"
