"""The stream URL behind proxies: forwarding headers count only from trusted proxies."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from sip.sidecar.app import UNAVAILABLE_MESSAGE, create_app
from trunkline.config import ConfigError, settings_from_env

CALL = {"CallSid": "CA1", "From": "+1555", "To": "+1666"}


async def stream_url(env: dict[str, str], headers: dict[str, str]) -> str | None:
    """The TwiML's stream URL for a webhook carrying ``headers`` (the test client's address,
    127.0.0.1, is the peer), or None when the webhook refused to give one."""
    app = create_app(settings_from_env(env), lambda *_: pytest.fail("no stream expected"))
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/twilio/voice", data=CALL, headers=headers)
        assert resp.status == 200  # whatever happens, Twilio gets TwiML, never an error page
        body = await resp.text()
    found = re.search(r'<Stream url="([^"]+)"', body)
    if found is None:
        assert f"<Say>{UNAVAILABLE_MESSAGE}</Say><Hangup />" in body
        return None
    return found.group(1)


TUNNEL = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.com"}


async def test_a_direct_request_gets_its_own_address() -> None:
    url = await stream_url({}, {})
    assert url is not None and re.fullmatch(r"ws://127\.0\.0\.1:\d+/twilio/media", url)


async def test_forwarding_headers_from_an_untrusted_peer_are_refused_with_what_to_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = REGISTRY.get_sample_value(
        "trunkline_calls_refused_total", {"reason": "public_url_unknown"}
    )
    for headers in (TUNNEL, {"Forwarded": "proto=https;host=voice.example.com"},
                    {"X-Forwarded-For": "203.0.113.9"}):  # fmt: skip
        assert await stream_url({}, headers) is None
    message = next(r.getMessage() for r in caplog.records if "refused" in r.getMessage())
    assert "set PUBLIC_URL" in message and "TRUNKLINE_TRUSTED_PROXIES" in message
    assert all(r.levelname != "ERROR" for r in caplog.records)
    after = REGISTRY.get_sample_value(
        "trunkline_calls_refused_total", {"reason": "public_url_unknown"}
    )
    assert after == (refused or 0) + 3


async def test_a_trusted_proxy_says_the_public_scheme_and_host() -> None:
    trusted = {"TRUNKLINE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}
    assert await stream_url(trusted, TUNNEL) == "wss://voice.example.com/twilio/media"
    assert (
        await stream_url(trusted, {"Forwarded": 'for=1.2.3.4;proto=https;host="v.example.com"'})
        == "wss://v.example.com/twilio/media"
    )
    # a proxy that says only the scheme keeps the Host header it passed on
    url = await stream_url(trusted, {"X-Forwarded-Proto": "https, http"})
    assert url is not None and re.fullmatch(r"wss://127\.0\.0\.1:\d+/twilio/media", url)
    # nonsense from a trusted proxy falls back to what the request itself says
    url = await stream_url(trusted, {"X-Forwarded-Proto": "gopher"})
    assert url is not None and url.startswith("ws://127.0.0.1:")


async def test_a_proxy_elsewhere_is_not_trusted_for_this_peer() -> None:
    assert await stream_url({"TRUNKLINE_TRUSTED_PROXIES": "10.0.0.1"}, TUNNEL) is None


async def test_public_url_wins_over_any_header() -> None:
    env = {"PUBLIC_URL": "https://calls.example.org/base/"}
    url = await stream_url(env, {"X-Forwarded-Host": "evil.example.com"})
    assert url == "wss://calls.example.org/base/twilio/media"


def test_malformed_trusted_proxies_are_reported_with_the_rest() -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_env(
            {
                "TRUNKLINE_TRUSTED_PROXIES": "10.0.0.1, proxy.local",
                "TRUNKLINE_DRAIN_TIMEOUT": "-1",
                "TRUNKLINE_FALLBACK_URL": "sidecar-b",
            }
        )
    assert exc.value.problems == [
        "TRUNKLINE_DRAIN_TIMEOUT='-1' is not a positive number",
        "TRUNKLINE_FALLBACK_URL='sidecar-b' is not an http(s):// URL with a host",
        "TRUNKLINE_TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR block",
    ]
