"""Whatever bytes reach the webhook, the answer is a 4xx or good TwiML: never a 500.

Requests are written byte for byte on a socket (so nothing a client library would refuse to
send is out of reach): any body under any content type and charset, a query of any bytes raw or
percent-encoded, any bytes in the signature header, and real forms of any text — in dev mode
(no signature check: the form reaches the TwiML) and with signatures checked, where some
requests carry a correct signature so that they, too, get as far as the TwiML. Every answer must
be below 500, and every 200 must be well-formed XML naming a stream. The log check fails the
test on any ERROR line (aiohttp's traceback for an unparsable request among them).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from sip.sidecar.app import VOICE_PATH, create_app
from sip.sidecar.webform import REQUEST_LOG
from trunkline.config import settings_from_env

TOKEN = "fuzz-auth-token"
PUBLIC = "https://sidecar.example.com"


class Servers:
    """Two sidecars (dev mode, and signatures checked) on a thread of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}

    async def _start(self) -> None:
        for name, env in (
            ("dev", {}),
            (
                "signed",
                {
                    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                    "TWILIO_AUTH_TOKEN": TOKEN,
                    "PUBLIC_URL": PUBLIC,
                },
            ),
        ):
            app = create_app(settings_from_env(env), _no_calls)
            runner = web.AppRunner(app, logger=REQUEST_LOG, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            self.ports[name] = int(runner.addresses[0][1])

    async def _stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()

    def __enter__(self) -> Servers:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _no_calls(*_: Any) -> Any:
    raise AssertionError("no media stream is opened here")


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with Servers() as running:
        yield running


def exchange(port: int, request: bytes) -> tuple[int, bytes]:
    """Send ``request``; the status code and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def post(query: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    lines = [b"POST " + VOICE_PATH.encode() + query + b" HTTP/1.1", b"Host: sidecar.example.com"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def check_answer(status: int, body: bytes) -> None:
    assert status < 500, body[:200]
    if status == 200:
        twiml = ET.fromstring(body)
        assert twiml.tag == "Response"
        assert twiml.find("Connect/Stream") is not None or twiml.find("Say") is not None


#: header values: any bytes but the line breaks that would end the header
header_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
content_types = (
    st.sampled_from(
        [
            b"application/x-www-form-urlencoded",
            b"application/x-www-form-urlencoded; charset=utf-8",
            b"application/x-www-form-urlencoded; charset=latin-1",
            b"application/x-www-form-urlencoded; charset=bogus",
            b"multipart/form-data; boundary=zz",
            b"text/plain",
            b"application/json",
        ]
    )
    | header_bytes
)
queries = st.one_of(
    st.just(b""),
    st.binary(max_size=20).map(lambda b: b"?" + quote_from_bytes(b).encode()),
    st.binary(min_size=1, max_size=20).map(
        lambda b: b"?" + bytes(c for c in b if c > 0x20 and c != 0x7F)
    ),
)
#: form fields as Twilio names them, with any text as values
field_names = st.sampled_from(["CallSid", "From", "To", "AccountSid", "CallStatus"]) | st.text(
    max_size=10
)
forms = st.dictionaries(field_names, st.text(max_size=40), max_size=6)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["dev", "signed"]),
    query=queries,
    content_type=content_types,
    signature=header_bytes,
    body=st.binary(max_size=300),
)
def test_any_bytes_get_a_4xx_or_twiml(
    servers: Servers,
    mode: str,
    query: bytes,
    content_type: bytes,
    signature: bytes,
    body: bytes,
) -> None:
    headers = [(b"Content-Type", content_type), (b"X-Twilio-Signature", signature)]
    check_answer(*exchange(servers.ports[mode], post(query, headers, body)))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mode=st.sampled_from(["dev", "signed"]), form=forms, sign=st.booleans())
def test_any_form_gets_a_4xx_or_twiml(
    servers: Servers, mode: str, form: dict[str, str], sign: bool
) -> None:
    body = urlencode(form, encoding="utf-8", errors="surrogatepass").encode("ascii")
    headers = [(b"Content-Type", b"application/x-www-form-urlencoded")]
    if sign:
        try:
            signature = RequestValidator(TOKEN).compute_signature(PUBLIC + VOICE_PATH, form)
        except UnicodeError:
            signature = "x"  # text no request can carry: nobody can sign it
        headers.append((b"X-Twilio-Signature", signature.encode()))
    status, answer = exchange(servers.ports[mode], post(b"", headers, body))
    check_answer(status, answer)
    if status == 200 and (mode == "dev" or sign):
        assert form.get("CallSid")
