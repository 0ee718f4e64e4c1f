"""Plain-socket peers: an RTP endpoint that records and sends, and a scripted SIP far end.

They check the caller's bytes with code that shares nothing with it (``struct`` on the RTP
header, regular expressions on SIP text), and play the far end in the few cases sipp cannot:
a 200 OK retransmitted after the ACK (sipp would treat our identical re-sent ACK as its own
retransmission trigger and loop), garbage on the wire, requests with a wrong CSeq or dialog.
"""

from __future__ import annotations

import asyncio
import re
import struct
from dataclasses import dataclass

Address = tuple[str, int]


@dataclass(frozen=True)
class RtpHeader:
    """Decoded with ``struct`` alone, independently of the caller's RTP module."""

    version: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes

    @classmethod
    def of(cls, data: bytes) -> RtpHeader:
        first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
        return cls(
            first >> 6, bool(second & 0x80), second & 0x7F, sequence, timestamp, ssrc, data[12:]
        )


class UdpPeer(asyncio.DatagramProtocol):
    """A UDP socket that keeps every datagram with its source, and can send."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Address]] = []
        self.arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(cls, host: str) -> UdpPeer:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(cls, local_addr=(host, 0))
        peer.transport = transport
        return peer

    @property
    def address(self) -> Address:
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return sockname[0], sockname[1]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received.append((data, (addr[0], addr[1])))
        self.arrived.set()

    def send(self, data: bytes, dest: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, dest)

    async def next(self, start: int, within_s: float = 5.0) -> tuple[bytes, Address]:
        """The datagram at index ``start`` once it has arrived."""
        async with asyncio.timeout(within_s):
            while len(self.received) <= start:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[start]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def header(message: bytes, name: str) -> str:
    """A header's value, found with a regular expression (first occurrence)."""
    match = re.search(rf"^{re.escape(name)}:[ \t]*(.*?)\r?$", message.decode(), re.M | re.I)
    assert match is not None, f"no {name} in {message.decode()!r}"
    return match.group(1)


def start_line(message: bytes) -> str:
    return message.decode().split("\r\n", 1)[0]


def response(
    request: bytes, status: str, *, to_tag: str = "peer1", extra: str = "", body: str = ""
) -> bytes:
    """A response the way a minimal UAS writes it by hand."""
    to = header(request, "To")
    if ";tag=" not in to:
        to += f";tag={to_tag}"
    lines = [
        f"SIP/2.0 {status}",
        f"Via: {header(request, 'Via')}",
        f"From: {header(request, 'From')}",
        f"To: {to}",
        f"Call-ID: {header(request, 'Call-ID')}",
        f"CSeq: {header(request, 'CSeq')}",
    ]
    lines += [line for line in extra.split("\n") if line]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def sdp_answer(host: str, port: int, formats: str = "0 101") -> str:
    lines = [
        "v=0",
        f"o=peer 1 1 IN IP4 {host}",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {formats}",
        "a=rtpmap:101 telephone-event/8000",
    ]
    return "\r\n".join(lines) + "\r\n"
