"""Who may talk to the sidecar: Twilio request signatures and one-time stream tokens.

Twilio signs every webhook and the Media Streams WebSocket upgrade with
``X-Twilio-Signature`` (HMAC-SHA1 of the public URL plus sorted POST parameters, keyed by the
auth token); the twilio SDK's ``RequestValidator`` computes it, so we only choose the URL.
Behind a proxy that URL must come from configuration (``PUBLIC_URL``), never the Host header.

The stream token closes the remaining gap: the TwiML we return names a one-time, short-lived
token bound to the CallSid, and the media stream must present it in ``start`` before any agent
or model resource is created. A leaked stream URL is therefore worth nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


def is_valid_signature(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """True when ``signature`` is Twilio's signature of ``url`` + ``params``.

    Text that cannot be UTF-8 (lone surrogates: how bytes that were not UTF-8 arrive in a
    header or a URL) is signed by nobody, so it is simply not a valid signature."""
    if not signature:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
    except UnicodeError:
        return False


def public_url_for(public_base: str, path_qs: str, *, websocket: bool = False) -> str:
    """The URL Twilio used for a request, from the configured public base and the request path.

    For the WebSocket upgrade Twilio signs the ``wss://`` form of the URL.
    """
    parts = urlsplit(public_base)
    scheme = parts.scheme
    if websocket:
        scheme = {"https": "wss", "http": "ws"}.get(scheme, scheme)
    path, _, query = path_qs.partition("?")
    base_path = parts.path.rstrip("/")
    return urlunsplit((scheme, parts.netloc, base_path + path, query, ""))


class StreamTokenError(ValueError):
    """The stream token is missing, forged, expired, reused or for another call."""


@dataclass
class StreamTokens:
    """Issues and redeems one-time stream tokens bound to a CallSid.

    ``secret`` should be shared by every sidecar instance behind one webhook URL
    (``TRUNKLINE_STREAM_SECRET``); a random per-process secret works for a single instance.
    """

    secret: bytes
    ttl_s: float = 60.0
    clock: Callable[[], float] = time.time
    _used: dict[str, float] = field(default_factory=dict)
    _issued: dict[str, float] = field(default_factory=dict)
    """Tokens handed out and not yet redeemed: streams Twilio is still about to open."""

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self.secret, body, hashlib.sha256).digest()[:16]

    def issue(self, call_sid: str) -> str:
        nonce = secrets.token_urlsafe(12)
        expires = int(self.clock() + self.ttl_s)
        body = f"{nonce}.{expires}.{call_sid}".encode()
        mac = base64.urlsafe_b64encode(self._mac(body)).decode().rstrip("=")
        self.outstanding()  # forget the expired ones
        self._issued[nonce] = expires
        return f"{nonce}.{expires}.{mac}"

    def outstanding(self) -> int:
        """How many streams this process's TwiML announced that have not arrived and still
        may: a draining sidecar waits for them as for calls in progress."""
        now = self.clock()
        self._issued = {n: t for n, t in self._issued.items() if t >= now}
        return len(self._issued)

    def redeem(self, token: str | None, call_sid: str) -> None:
        """Accept ``token`` once for ``call_sid`` or raise :class:`StreamTokenError`."""
        if not token:
            raise StreamTokenError("no stream token in start.customParameters")
        try:
            nonce, expires_text, mac_text = token.split(".")
            expires = int(expires_text)
            mac = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
            # text that is not UTF-8 (lone surrogates, from JSON escapes) was signed by nobody
            body = f"{nonce}.{expires}.{call_sid}".encode()
        except ValueError as exc:
            raise StreamTokenError("malformed stream token") from exc
        if not hmac.compare_digest(mac, self._mac(body)):
            raise StreamTokenError("stream token does not match this call")
        now = self.clock()
        self._used = {n: t for n, t in self._used.items() if t >= now}
        if expires < now:
            raise StreamTokenError("stream token expired")
        if nonce in self._used:
            raise StreamTokenError("stream token already used")
        self._used[nonce] = expires
        self._issued.pop(nonce, None)
