"""The address Twilio reached this sidecar at: what the stream URL and signatures are built on.

Twilio accepts only a ``wss://`` stream URL, and signs requests over the URL *it* called. Behind
a TLS-terminating proxy or tunnel the request this process sees is plain ``http`` to an inner
host, so the public address has to come from somewhere else:

1. ``PUBLIC_URL``, when configured — always right, and required once signatures are checked;
2. else the ``Forwarded`` (RFC 7239) or ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` headers,
   but only from a peer in ``TRUNKLINE_TRUSTED_PROXIES``: anyone can send those headers, and a
   sidecar that believed them from anyone would hand out whatever URL a caller asked for;
3. else, with no forwarding headers at all, the request's own scheme and host (a client on this
   machine or network talking to the sidecar directly: the caller simulator, ``make demo``).

Forwarding headers from a peer that is not trusted mean a proxy is in front but nobody said it
may be believed; guessing would hand Twilio a ``ws://`` URL it refuses (or a spoofed host), so
that request gets :class:`PublicUrlUnknown` with the two ways to fix it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from trunkline.config import IPNetwork

FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-For")


class PublicUrlUnknown(ValueError):
    """Behind a proxy that is not trusted, with no PUBLIC_URL: no stream URL can be given."""


def trusted(remote: str | None, proxies: Sequence[IPNetwork]) -> bool:
    if not remote or not proxies:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def _first(value: str | None) -> str | None:
    """The first entry of a comma-separated header: what the outermost proxy saw."""
    if value is None:
        return None
    first = value.split(",")[0].strip()
    return first or None


def _forwarded(request: web.Request) -> tuple[str | None, str | None]:
    """(scheme, host) as the proxy says the client used them; either may be unknown."""
    if request.forwarded:
        element = request.forwarded[0]
        return element.get("proto"), element.get("host")
    return (
        _first(request.headers.get("X-Forwarded-Proto")),
        _first(request.headers.get("X-Forwarded-Host")),
    )


def public_base(request: web.Request, public_url: str | None, proxies: Sequence[IPNetwork]) -> str:
    """``scheme://host[/base path]`` Twilio used for ``request``; see the module's rules."""
    if public_url:
        return public_url
    if trusted(request.remote, proxies):
        scheme, host = _forwarded(request)
        if scheme is None or scheme.lower() not in ("http", "https"):
            scheme = request.scheme
        return f"{scheme.lower()}://{host or request.host}"
    sent = [name for name in FORWARDING_HEADERS if name in request.headers]
    if sent:
        raise PublicUrlUnknown(
            f"the request came through a proxy ({request.remote} sent {', '.join(sent)}) that "
            "is not trusted, so the public URL Twilio used is unknown: set PUBLIC_URL to it "
            "(e.g. https://voice.example.com), or add the proxy's address to "
            "TRUNKLINE_TRUSTED_PROXIES"
        )
    return f"{request.scheme}://{request.host}"


def stream_url(base: str, path: str) -> str:
    """The media WebSocket's URL under ``base``: ``wss://`` when Twilio reached us by https."""
    scheme, _, rest = base.partition("://")
    ws = "wss" if scheme == "https" else "ws"
    return f"{ws}://{rest.rstrip('/')}{path}"
