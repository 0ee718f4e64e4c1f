"""The SDP offer a Twilio Elastic SIP trunk makes, and reading the answer (RFC 4566, RFC 3264).

The offer is what a PSTN call through Twilio carries: one audio stream, PCMU/8000 (static
payload type 0) and RFC 4733 ``telephone-event/8000`` (101, events 0-16), 20 ms packets. The
answer must accept PCMU — the recorder decodes μ-law only — and may accept telephone-event
under its own payload type, which is then the one digits are sent with (RFC 3264 §6.1: the
receiver's numbering applies to what it receives).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from lab.sipcaller.address import is_number
from lab.sipcaller.errors import SdpError

PCMU: Final = 0
TELEPHONE_EVENT: Final = 101
PTIME_MS: Final = 20
CLOCK_RATE: Final = 8000


def _address_type(host: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(host).version == 6 else "IP4"
    except ValueError as exc:
        raise SdpError(f"SDP needs an IP address, not {host!r}") from exc


def offer(host: str, port: int, session_id: int, version: int = 1) -> str:
    """The offer for ``host:port``, where this user agent receives RTP."""
    kind = _address_type(host)
    return (
        "v=0\r\n"
        f"o=- {session_id} {version} IN {kind} {host}\r\n"
        "s=trunkline sipcaller\r\n"
        f"c=IN {kind} {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP {PCMU} {TELEPHONE_EVENT}\r\n"
        f"a=rtpmap:{PCMU} PCMU/{CLOCK_RATE}\r\n"
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/{CLOCK_RATE}\r\n"
        f"a=fmtp:{TELEPHONE_EVENT} 0-16\r\n"
        f"a=ptime:{PTIME_MS}\r\n"
        "a=sendrecv\r\n"
    )


@dataclass(frozen=True)
class Answer:
    """What the far end's answer says about the audio stream."""

    address: str
    port: int
    audio_pt: int
    telephone_event_pt: int | None
    ptime_ms: int | None
    direction: str


_DIRECTIONS: Final = ("sendrecv", "sendonly", "recvonly", "inactive")


def parse_answer(text: str) -> Answer:
    """The first accepted (non-zero port) ``m=audio`` stream of an SDP answer."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError(f"SDP must start with v=0, got {lines[0] if lines else 'nothing'!r}")
    session_c: str | None = None
    media: list[list[str]] = []
    for line in lines:
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"bad SDP line {line!r}")
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        elif line.startswith("c="):
            session_c = line
    for section in media:
        fields = section[0][2:].split()
        if len(fields) < 4:
            raise SdpError(f"bad m= line {section[0]!r}")
        kind, port_text, proto, *formats = fields
        if kind == "audio" and port_text != "0":
            return _audio(section, session_c, port_text, proto, formats)
    raise SdpError("the answer has no accepted m=audio stream")


def _audio(
    section: list[str], session_c: str | None, port_text: str, proto: str, formats: list[str]
) -> Answer:
    if proto != "RTP/AVP":
        raise SdpError(f"audio over {proto} is not supported (only RTP/AVP)")
    if not is_number(port_text) or not 0 < int(port_text) < 65536:
        raise SdpError(f"bad audio port {port_text!r}")
    if not all(is_number(f) for f in formats):
        raise SdpError(f"bad payload types {' '.join(formats)!r}")
    pts = [int(f) for f in formats]
    rtpmap: dict[int, str] = {}
    ptime: int | None = None
    direction = "sendrecv"
    connection = session_c
    for line in section[1:]:
        if line.startswith("c="):
            connection = line
        elif line.startswith("a=rtpmap:"):
            pt_text, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            if is_number(pt_text):
                rtpmap[int(pt_text)] = encoding.strip().lower()
        elif line.startswith("a=ptime:") and is_number(line[len("a=ptime:") :].strip()):
            ptime = int(line[len("a=ptime:") :].strip())
        elif line[2:] in _DIRECTIONS:
            direction = line[2:]
    if connection is None:
        raise SdpError("the answer has no c= line for its audio stream")
    address = _connection_address(connection)
    audio = [pt for pt in pts if rtpmap.get(pt, "pcmu/8000" if pt == PCMU else "") == "pcmu/8000"]
    if not audio:
        raise SdpError(f"the answer does not accept PCMU/8000 (payload types {pts})")
    events = [pt for pt in pts if rtpmap.get(pt, "") == "telephone-event/8000"]
    return Answer(
        address=address,
        port=int(port_text),
        audio_pt=audio[0],
        telephone_event_pt=events[0] if events else None,
        ptime_ms=ptime,
        direction=direction,
    )


def _connection_address(line: str) -> str:
    fields = line[2:].split()
    if len(fields) != 3 or fields[0] != "IN" or fields[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad connection line {line!r}")
    address = fields[2].split("/")[0]  # a multicast TTL suffix is not an address
    try:
        version = ipaddress.ip_address(address).version
    except ValueError as exc:
        raise SdpError(f"the connection address {address!r} is not an IP address") from exc
    if f"IP{version}" != fields[1]:
        raise SdpError(f"the connection address {address} is not {fields[1]}")
    return address
