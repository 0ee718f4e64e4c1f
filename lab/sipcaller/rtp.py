"""RTP packets (RFC 3550 §5.1): the fixed header, CSRCs, header extension and padding.

Sending writes the plain 12-byte header a telephone gateway writes. Receiving accepts what any
RFC 3550 sender may add (CSRC list, a header extension, padding) and strips it, so the payload
handed to the recorder is exactly the codec's bytes. RTCP is not implemented: livekit-sip does
not need the caller's reports, and the lab measures from arrival times, not from RTCP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from lab.sipcaller.errors import SipParseError

VERSION: Final = 2
HEADER_BYTES: Final = 12
_HEADER: Final = struct.Struct("!BBHII")


class RtpError(SipParseError):
    """A datagram that is not an RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()

    def encode(self) -> bytes:
        if not 0 <= self.payload_type < 128:
            raise ValueError(f"payload type {self.payload_type} is not 0-127")
        if len(self.csrcs) > 15:
            raise ValueError("at most 15 CSRCs fit in an RTP header")
        first = (VERSION << 6) | len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        header = _HEADER.pack(
            first,
            second,
            self.sequence & 0xFFFF,
            self.timestamp & 0xFFFFFFFF,
            self.ssrc & 0xFFFFFFFF,
        )
        csrcs = b"".join(struct.pack("!I", c & 0xFFFFFFFF) for c in self.csrcs)
        return header + csrcs + self.payload

    @classmethod
    def decode(cls, data: bytes) -> RtpPacket:
        if len(data) < HEADER_BYTES:
            raise RtpError(f"{len(data)} bytes is shorter than an RTP header")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected {VERSION}")
        end = len(data)
        if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
            padding = data[-1]
            if padding == 0 or padding > end - HEADER_BYTES:
                raise RtpError(f"bad RTP padding length {padding}")
            end -= padding
        offset = HEADER_BYTES + 4 * (first & 0x0F)
        if offset > end:
            raise RtpError("RTP CSRC list runs past the packet")
        csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER_BYTES)
        if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
            if offset + 4 > end:
                raise RtpError("RTP header extension runs past the packet")
            (words,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4 + 4 * words
            if offset > end:
                raise RtpError("RTP header extension runs past the packet")
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=data[offset:end],
            marker=bool(second & 0x80),
            csrcs=tuple(csrcs),
        )


def is_rtcp(data: bytes) -> bool:
    """RTCP multiplexed on the RTP port (RFC 5761 §4): packet types 192-223 in byte 1."""
    return len(data) >= 2 and 192 <= data[1] <= 223
