"""HTTP digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617, RFC 7616).

A trunk with credentials answers the first INVITE with 407 (livekit-sip: ``Proxy-Authenticate``,
MD5, no qop) or 401 (``WWW-Authenticate``); the INVITE is sent again with the matching
``Proxy-Authorization`` / ``Authorization``. MD5 and SHA-256, their ``-sess`` variants, and qop
``auth`` or none (RFC 2069 style, which livekit-sip uses) are supported; ``auth-int`` alone is
refused with :class:`~lab.sipcaller.errors.DigestError` rather than answered wrongly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from lab.sipcaller.address import split_quoted
from lab.sipcaller.errors import DigestError, SipParseError

_HASHES: Final = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True)
class Challenge:
    """One ``Digest`` challenge from a WWW-Authenticate or Proxy-Authenticate header."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, text: str) -> Challenge:
        scheme, _, rest = text.strip().partition(" ")
        if scheme.lower() != "digest":
            raise DigestError(f"not a Digest challenge: {text!r}")
        params = _auth_params(rest)
        for required in ("realm", "nonce"):
            if required not in params:
                raise SipParseError(f"digest challenge without {required}: {text!r}")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out: list[str] = []
        escaped = False
        for char in value[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return value


def _auth_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in split_quoted(text, ","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        if not eq:
            raise SipParseError(f"digest parameter without '=': {part.strip()!r}")
        params[name.strip().lower()] = _unquote(value)
    return params


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(
    challenge: Challenge,
    credentials: Credentials,
    *,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
) -> tuple[str, str | None]:
    """The ``response`` value and the qop it was computed for (None: RFC 2069 form)."""
    base = challenge.algorithm.removesuffix("-SESS")
    if base not in _HASHES:
        raise DigestError(f"digest algorithm {challenge.algorithm} is not supported")
    if challenge.qop and "auth" not in challenge.qop:
        raise DigestError(f"digest qop {','.join(challenge.qop)} is not supported (only auth)")
    hash_fn = _HASHES[base]

    def h(text: str) -> str:
        return hash_fn(text.encode()).hexdigest()

    ha1 = h(f"{credentials.username}:{challenge.realm}:{credentials.password}")
    if challenge.algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    if not challenge.qop:
        return h(f"{ha1}:{challenge.nonce}:{ha2}"), None
    return h(f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:auth:{ha2}"), "auth"


def authorization(
    challenge: Challenge,
    credentials: Credentials,
    *,
    method: str,
    uri: str,
    cnonce: str,
    nc: int = 1,
) -> str:
    """The value of the Authorization / Proxy-Authorization header answering ``challenge``."""
    response, qop = digest_response(
        challenge, credentials, method=method, uri=uri, cnonce=cnonce, nc=nc
    )
    parts = [
        f"username={_quote(credentials.username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"cnonce={_quote(cnonce)}", f"qop={qop}", f"nc={nc:08x}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)
