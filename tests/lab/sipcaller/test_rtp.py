from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.sipcaller.rtp import RtpError, RtpPacket, is_rtcp


def test_encode_writes_the_rfc_3550_fixed_header() -> None:
    packet = RtpPacket(payload_type=0, sequence=0x1234, timestamp=0x01020304, ssrc=0xDEADBEEF,
                       payload=b"\xff\xfe", marker=True)  # fmt: skip
    assert packet.encode().hex() == "8080123401020304deadbeeffffe"
    wrapped = RtpPacket(101, sequence=65536 + 5, timestamp=2**32 + 7, ssrc=1, payload=b"")
    assert wrapped.encode().hex() == "806500050000000700000001"


def test_decode_strips_csrcs_extension_and_padding() -> None:
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 8, 7, 8, 9)
    csrcs = struct.pack("!II", 11, 12)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x00" * 4
    data = header + csrcs + extension + b"payload" + b"\x00\x00\x03"
    packet = RtpPacket.decode(data)
    assert packet == RtpPacket(8, 7, 8, 9, b"payload", marker=True, csrcs=(11, 12))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x80\x00", "shorter than"),
        (bytes([0x40]) + b"\x00" * 11, "version 1"),
        (bytes([0xA0]) + b"\x00" * 11 + b"\x00", "padding length 0"),
        (bytes([0xA0]) + b"\x00" * 11 + b"\x09", "padding length 9"),
        (bytes([0x83]) + b"\x00" * 11 + b"\x00" * 8, "CSRC list"),
        (bytes([0x90]) + b"\x00" * 11 + b"\xbe\xde", "extension"),
        (bytes([0x90]) + b"\x00" * 11 + b"\xbe\xde\x00\x02" + b"\x00" * 4, "extension"),
    ],
)
def test_malformed_packets_are_refused(data: bytes, error: str) -> None:
    with pytest.raises(RtpError, match=error):
        RtpPacket.decode(data)


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="payload type"):
        RtpPacket(128, 0, 0, 0, b"").encode()
    with pytest.raises(ValueError, match="15 CSRCs"):
        RtpPacket(0, 0, 0, 0, b"", csrcs=tuple(range(16))).encode()


def test_rtcp_is_told_apart_from_rtp() -> None:
    assert is_rtcp(bytes([0x80, 200]) + b"\x00" * 6)  # sender report
    assert not is_rtcp(RtpPacket(0, 1, 2, 3, b"x", marker=True).encode())
    assert not is_rtcp(RtpPacket(101, 1, 2, 3, b"x", marker=True).encode())


@given(
    st.integers(0, 127), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.binary(max_size=200), st.booleans(),
    st.lists(st.integers(0, 2**32 - 1), max_size=15),
)  # fmt: skip
def test_packets_round_trip(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, csrcs: list[int]
) -> None:
    packet = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs))
    assert RtpPacket.decode(packet.encode()) == packet


@given(st.binary(max_size=64))
def test_decoder_raises_nothing_but_rtp_error(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        RtpPacket.decode(data)
