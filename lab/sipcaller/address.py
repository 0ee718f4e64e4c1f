"""SIP addresses (RFC 3261 §19.1, §20.10, §20.42, §25.1): URIs, name-addr headers and Via.

Only the parts a user agent acts on are modelled — scheme, user, host, port and parameters of a
URI; display name, URI and parameters of From/To/Contact/Route/Record-Route/Refer-To; transport,
sent-by and parameters of Via. Everything else is kept as text and written back unchanged, so a
route set or a Refer-To the far end sent survives a round trip byte for byte where it matters.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from lab.sipcaller.errors import SipParseError

#: RFC 3261 ``token`` characters (method names, parameter names, transport names).
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9\-.]+")

Params = tuple[tuple[str, str | None], ...]


def is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²', which ``int`` then refuses."""
    return text.isascii() and text.isdigit()


def split_quoted(text: str, separator: str) -> Iterator[str]:
    """Split ``text`` at ``separator`` outside quoted strings and ``<…>`` (header lists, params).

    A backslash inside a quoted string escapes the next character (RFC 3261 ``quoted-pair``).
    An unterminated quote or bracket is malformed input, not a reason to guess.
    """
    start = 0
    quoted = False
    angle = False
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == separator and not angle:
            yield text[start:i]
            start = i + 1
    if quoted or angle:
        raise SipParseError(f"unterminated {'quote' if quoted else '<'} in {text!r}")
    yield text[start:]


def parse_params(text: str) -> Params:
    """``;name=value;flag`` → ((name, value), (flag, None)); names match case-insensitively."""
    params: list[tuple[str, str | None]] = []
    if not text:
        return ()
    if not text.startswith(";"):
        raise SipParseError(f"parameters must start with ';': {text!r}")
    for part in split_quoted(text[1:], ";"):
        name, eq, value = part.partition("=")
        name = name.strip()
        if not _TOKEN.fullmatch(name):
            raise SipParseError(f"bad parameter name {name!r} in {text!r}")
        params.append((name, value.strip() if eq else None))
    return tuple(params)


def format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def param(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` ('' for a flag), or None when absent."""
    wanted = name.lower()
    for key, value in params:
        if key.lower() == wanted:
            return "" if value is None else value
    return None


def _parse_hostport(text: str, context: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 references in brackets; the host is returned without them."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference in {context!r}")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise SipParseError(f"bad IPv6 address {host!r} in {context!r}") from exc
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not host or not _HOSTNAME.fullmatch(host):
            raise SipParseError(f"bad host {host!r} in {context!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not is_number(rest[1:]):
        raise SipParseError(f"bad port in {context!r}")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise SipParseError(f"port {port} out of range in {context!r}")
    return host, port


def format_host(host: str) -> str:
    """A host as it appears in a URI or Via: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class SipUri:
    """A ``sip:``/``sips:`` URI. ``user`` keeps any password; ``headers`` is the raw ``?…``."""

    host: str
    user: str | None = None
    port: int | None = None
    params: Params = ()
    scheme: str = "sip"
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        scheme, colon, rest = text.strip().partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            raise SipParseError(f"not a sip: or sips: URI: {text!r}")
        rest, _, headers = rest.partition("?")
        user: str | None = None
        if "@" in rest:
            user, _, rest = rest.rpartition("@")
            if not user:
                raise SipParseError(f"empty user part in {text!r}")
        hostport, semi, param_text = rest.partition(";")
        host, port = _parse_hostport(hostport, text)
        return cls(
            host=host,
            user=user,
            port=port,
            params=parse_params(semi + param_text),
            scheme=scheme.lower(),
            headers=headers,
        )

    def param(self, name: str) -> str | None:
        return param(self.params, name)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user is not None else ""
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        params = format_params(self.params)
        return f"{self.scheme}:{user}{format_host(self.host)}{port}{params}{headers}"


_QUOTED_DISPLAY = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*<')
_TOKEN_DISPLAY = re.compile(r"\s*([^<\"]*?)\s*<")


@dataclass(frozen=True)
class NameAddr:
    """From/To/Contact/Route/Record-Route/Refer-To: ``"Display" <uri>;params``.

    ``uri`` stays text because not every URI here is ``sip:`` (a Refer-To may be ``tel:``);
    :attr:`sip_uri` parses it where routing needs one. Always written with angle brackets,
    which RFC 3261 §20 requires whenever the URI has parameters and allows always.
    """

    uri: str
    display: str | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        value = text.strip()
        display: str | None = None
        if "<" in value:
            match = _QUOTED_DISPLAY.match(value) or _TOKEN_DISPLAY.match(value)
            if match is None:
                raise SipParseError(f"bad name-addr: {text!r}")
            display = re.sub(r"\\(.)", r"\1", match.group(1)) or None
            end = value.find(">", match.end())
            if end < 0:
                raise SipParseError(f"missing '>' in {text!r}")
            uri = value[match.end() : end].strip()
            rest = value[end + 1 :].strip()
        else:
            # addr-spec form: everything after the first ';' is a header parameter
            uri, semi, param_text = value.partition(";")
            uri, rest = uri.strip(), semi + param_text
        if ":" not in uri or not uri.split(":", 1)[0].isalpha():
            raise SipParseError(f"not a URI: {uri!r} in {text!r}")
        return cls(uri=uri, display=display, params=parse_params(rest))

    @property
    def sip_uri(self) -> SipUri:
        return SipUri.parse(self.uri)

    @property
    def tag(self) -> str | None:
        return param(self.params, "tag")

    def with_tag(self, tag: str) -> NameAddr:
        kept = tuple(p for p in self.params if p[0].lower() != "tag")
        return replace(self, params=(*kept, ("tag", tag)))

    def __str__(self) -> str:
        display = ""
        if self.display is not None:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=z9hG4bK…;rport``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        value = text.strip()
        match = re.match(r"SIP\s*/\s*2\.0\s*/\s*(\S+?)\s+", value, re.IGNORECASE)
        if match is None:
            raise SipParseError(f"bad Via: {text!r}")
        transport = match.group(1)
        if not _TOKEN.fullmatch(transport):
            raise SipParseError(f"bad Via transport {transport!r}")
        sent_by, semi, param_text = value[match.end() :].partition(";")
        host, port = _parse_hostport(sent_by.strip(), text)
        return cls(transport.upper(), host, port, parse_params(semi + param_text))

    @property
    def branch(self) -> str | None:
        return param(self.params, "branch")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return (
            f"SIP/2.0/{self.transport} {format_host(self.host)}{port}{format_params(self.params)}"
        )
