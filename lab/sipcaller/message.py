"""SIP messages (RFC 3261 §7, §18.3, §20): bytes ⇄ requests and responses.

The parser is strict where a mistake would mislead a measurement — start line, the headers every
message must carry (Via, From, To, Call-ID, CSeq), Content-Length against the body — and lenient
where real stacks differ harmlessly: compact header forms, any header-name case, folded lines,
bare LF line ends, CRLF keep-alives before a message. Anything else raises
:class:`~lab.sipcaller.errors.SipParseError` with what was wrong; nothing is guessed.

Headers keep their order and repetition, as received; list-valued headers (Via, Route, Contact…)
are split at top-level commas only on reading, so what was received is what gets logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from lab.sipcaller.address import NameAddr, Via, is_number, split_quoted
from lab.sipcaller.errors import SipParseError

SIP_VERSION: Final = "SIP/2.0"
#: A datagram above this is not a SIP message we sent for (RFC 3261 §18.1.1 talks of 1300
#: bytes for UDP; this bounds what a stream may make us buffer).
MAX_MESSAGE_BYTES: Final = 65536

_COMPACT: Final = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
_KNOWN: Final = {
    name.lower(): name
    for name in (
        *_COMPACT.values(),
        "CSeq",
        "Max-Forwards",
        "Route",
        "Record-Route",
        "Allow",
        "Accept",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "User-Agent",
        "Server",
        "WWW-Authenticate",
        "Proxy-Authenticate",
        "Authorization",
        "Proxy-Authorization",
        "Subscription-State",
        "Expires",
        "Reason",
    )
}
#: Headers whose value is a comma-separated list (RFC 3261 §7.3.1); others (the digest
#: headers above all) contain commas that are not list separators.
_LIST_HEADERS: Final = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "accept",
        "require",
        "proxy-require",
        "supported",
        "unsupported",
        "allow-events",
    }
)
_TOKEN: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_REQUIRED: Final = ("Via", "From", "To", "Call-ID", "CSeq")


def canonical_name(name: str) -> str:
    """The header's full, conventionally capitalised name (compact forms expanded)."""
    lowered = name.lower()
    if lowered in _COMPACT:
        return _COMPACT[lowered]
    return _KNOWN.get(lowered, name)


class Headers:
    """An ordered multi-map of header fields with case-insensitive names."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        if not _TOKEN.fullmatch(name):
            raise SipParseError(f"bad header name {name!r}")
        if "\r" in value or "\n" in value:
            raise SipParseError(f"header {name} value contains a line break")
        self._items.append((canonical_name(name), value))

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (the first list element for list headers)."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order, list headers split at top-level commas."""
        key = canonical_name(name).lower()
        values: list[str] = []
        for n, v in self._items:
            if n.lower() != key:
                continue
            if key in _LIST_HEADERS:
                values.extend(part.strip() for part in split_quoted(v, ",") if part.strip())
            else:
                values.append(v)
        return values

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class CSeq:
    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        number, _, method = text.strip().partition(" ")
        method = method.strip()
        if not is_number(number) or not _TOKEN.fullmatch(method):
            raise SipParseError(f"bad CSeq {text!r}")
        value = int(number)
        if value >= 2**31:
            raise SipParseError(f"CSeq {value} is not below 2**31")
        return cls(value, method)


@dataclass
class _Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def _start_line(self) -> str:
        raise NotImplementedError

    def header(self, name: str) -> str:
        """The first value of a header the caller needs; a clear error when it is missing."""
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"{self._start_line()}: no {canonical_name(name)} header")
        return value

    @property
    def call_id(self) -> str:
        return self.header("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return CSeq.parse(self.header("CSeq"))

    @property
    def from_(self) -> NameAddr:
        return NameAddr.parse(self.header("From"))

    @property
    def to(self) -> NameAddr:
        return NameAddr.parse(self.header("To"))

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(v) for v in self.headers.get_all("Via")]

    @property
    def branch(self) -> str | None:
        """The top Via's branch: the transaction this message belongs to (RFC 3261 §17)."""
        vias = self.headers.get_all("Via")
        return Via.parse(vias[0]).branch if vias else None

    def encode(self) -> bytes:
        """The wire form; Content-Length is always written and always matches the body."""
        lines = [self._start_line()]
        lines.extend(f"{name}: {value}" for name, value in self.headers if name != "Content-Length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Request(_Message):
    method: str = ""
    uri: str = ""

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass
class Response(_Message):
    status: int = 0
    reason: str = ""

    def _start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


Message = Request | Response


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header block and what follows it; the blank line may be CRLF CRLF or bare LF LF."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        raise SipParseError("no blank line after the headers")
    if lf < 0 or (0 <= crlf < lf):
        return data[:crlf], data[crlf + 4 :]
    return data[:lf], data[lf + 2 :]


def _unfold(head: str) -> list[str]:
    """Header lines with continuation lines (leading space or tab) joined to their field."""
    lines: list[str] = []
    for raw in head.replace("\r\n", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def _parse_start(line: str) -> Message:
    if line.startswith(SIP_VERSION + " ") or line.upper().startswith(SIP_VERSION + " "):
        parts = line.split(" ", 2)
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not is_number(code) or not 100 <= int(code) <= 699:
            raise SipParseError(f"bad status line {line!r}")
        return Response(status=int(code), reason=parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise SipParseError(f"bad request line {line!r}")
    if parts[2].upper() != SIP_VERSION:
        raise SipParseError(f"unsupported version {parts[2]!r} in {line!r}")
    if ":" not in parts[1]:
        raise SipParseError(f"bad Request-URI {parts[1]!r}")
    return Request(method=parts[0], uri=parts[1])


def parse(data: bytes) -> Message:
    """One whole message (a datagram, or a frame cut by :class:`StreamFramer`)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    data = data.lstrip(b"\r\n")
    if not data:
        raise SipParseError("empty message")
    head_bytes, rest = _split_head(data)
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not UTF-8: {exc}") from exc
    start, *lines = _unfold(head)
    message = _parse_start(start)
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without ':' {line!r}")
        message.headers.add(name.strip(), value.strip())
    for name in _REQUIRED:
        if message.headers.get(name) is None:
            raise SipParseError(f"{start}: no {name} header")
    message.body = _body(message, rest)
    _validate(message)
    return message


def _body(message: Message, rest: bytes) -> bytes:
    length_text = message.headers.get("Content-Length")
    if length_text is None:
        return rest  # datagram: the body is the rest (RFC 3261 §18.3)
    if not is_number(length_text):
        raise SipParseError(f"bad Content-Length {length_text!r}")
    length = int(length_text)
    if len(rest) < length:
        raise SipParseError(f"body of {len(rest)} bytes is shorter than Content-Length {length}")
    return rest[:length]


def _validate(message: Message) -> None:
    """Parse the headers every message must have so later code can rely on them."""
    cseq = message.cseq
    if isinstance(message, Request) and cseq.method != message.method:
        raise SipParseError(f"CSeq method {cseq.method} does not match {message.method}")
    for name in ("From", "To"):
        NameAddr.parse(message.header(name))
    if not message.vias:
        raise SipParseError("empty Via header")


class StreamFramer:
    """Cuts a byte stream (SIP over TCP) into messages by Content-Length (RFC 3261 §18.3).

    On a stream Content-Length is mandatory: without it the next message's start is unknown,
    so its absence is an error that closes the connection rather than a guess.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # keep-alives between messages
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    raise SipParseError("no end of headers within the message size limit")
                return messages
            length = _stream_content_length(self._buffer[:end])
            total = end + 4 + length
            if total > MAX_MESSAGE_BYTES:
                raise SipParseError(f"message of {total} bytes exceeds {MAX_MESSAGE_BYTES}")
            if len(self._buffer) < total:
                return messages
            frame, self._buffer = self._buffer[:total], self._buffer[total:]
            messages.append(parse(frame))


def _stream_content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            text = value.strip()
            if not text.isdigit():
                raise SipParseError(f"bad Content-Length {text!r}")
            return int(text)
    raise SipParseError("a message on a stream transport has no Content-Length")


def response_to(
    request: Request,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response copying Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2).

    ``to_tag`` is added when the request's To has none (a response that creates or rejects a
    dialog); an in-dialog request already carries the tag.
    """
    copied = Headers()
    for via in request.headers.get_all("Via"):
        copied.add("Via", via)
    copied.add("From", request.header("From"))
    to = request.to
    if to_tag is not None and to.tag is None:
        copied.add("To", str(to.with_tag(to_tag)))
    else:
        copied.add("To", request.header("To"))
    copied.add("Call-ID", request.call_id)
    copied.add("CSeq", request.header("CSeq"))
    for name, value in headers:
        copied.add(name, value)
    return Response(headers=copied, body=body, status=status, reason=reason)
