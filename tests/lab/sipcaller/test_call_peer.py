"""The call against a far end scripted by hand over a plain socket, for what sipp cannot do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from lab.sipcaller import CallFailed, CallStateError, DialOptions, Ending, SipCall
from lab.sipcaller.transport import TcpTransport

from .peers import UdpPeer, header, response, sdp_answer, start_line
from .sipp import CALLER_HOST, SIPP_HOST

PEER = SIPP_HOST


@pytest.fixture
async def sip_peer() -> AsyncIterator[UdpPeer]:
    peer = await UdpPeer.open(PEER)
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
async def rtp_peer() -> AsyncIterator[UdpPeer]:
    peer = await UdpPeer.open(PEER)
    try:
        yield peer
    finally:
        peer.close()


def dial(peer: UdpPeer) -> DialOptions:
    return DialOptions(
        target=f"sip:+15550100@{PEER}:{peer.address[1]}",
        from_number="+15550199",
        local_host=CALLER_HOST,
    )


def ok(invite: bytes, sip: UdpPeer, rtp: UdpPeer, formats: str = "0 101") -> bytes:
    return response(
        invite,
        "200 OK",
        extra=f"Contact: <sip:peer@{PEER}:{sip.address[1]}>",
        body=sdp_answer(PEER, rtp.address[1], formats),
    )


def request(method: str, invite: bytes, ack: bytes, cseq: int, to_tag: str | None = None) -> bytes:
    """A request from the far end in the dialog the 200 made (From and To swapped).

    ``to_tag`` replaces our tag; an empty one leaves the To untagged (a new dialog).
    """
    ours = header(invite, "From")
    if to_tag is not None:
        ours = ours.split(";tag=")[0] + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {header(invite, 'Contact').strip('<>')} SIP/2.0",
        f"Via: SIP/2.0/UDP {PEER}:1;branch=z9hG4bKpeer{method}{cseq}",
        f"From: {header(ack, 'To')}",
        f"To: {ours}",
        f"Call-ID: {header(invite, 'Call-ID')}",
        f"CSeq: {cseq} {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_retransmitted_200_gets_the_same_ack_and_garbage_is_dropped(
    sip_peer: UdpPeer, rtp_peer: UdpPeer
) -> None:
    async with SipCall.dial(dial(sip_peer)) as call:
        invite, caller = await sip_peer.next(0)
        with pytest.raises(CallStateError, match="not answered"):
            await call.play(np.zeros(160, dtype=np.int16))
        sip_peer.send(b"HELLO\r\n\r\n", caller)
        sip_peer.send(ok(invite, sip_peer, rtp_peer), caller)
        first_ack, _ = await sip_peer.next(1)
        sip_peer.send(ok(invite, sip_peer, rtp_peer), caller)  # as if our ACK were lost
        second_ack, _ = await sip_peer.next(2)
        await asyncio.wait_for(call.answered(), 5)
        assert call.malformed == 1
        hang_up = asyncio.create_task(call.bye())
        bye, _ = await sip_peer.next(3)
        sip_peer.send(response(bye, "200 OK"), caller)
        await asyncio.wait_for(hang_up, 5)
    assert start_line(first_ack) == f"ACK sip:peer@{PEER}:{sip_peer.address[1]} SIP/2.0"
    assert second_ack == first_ack
    assert start_line(bye).startswith("BYE sip:peer@")
    assert call.ended.result().how is Ending.BYE_SENT


async def test_requests_in_and_out_of_the_dialog_get_the_right_answer(
    sip_peer: UdpPeer, rtp_peer: UdpPeer
) -> None:
    async with SipCall.dial(dial(sip_peer)) as call:
        invite, caller = await sip_peer.next(0)
        sip_peer.send(ok(invite, sip_peer, rtp_peer), caller)
        ack, _ = await sip_peer.next(1)
        await asyncio.wait_for(call.answered(), 5)
        exchanges = [
            request("INFO", invite, ack, 5),  # not supported: 405 with Allow
            request("INFO", invite, ack, 5),  # retransmitted: the same 405, not a new one
            request("BYE", invite, ack, 4),  # CSeq lower than the last one: 500
            request("BYE", invite, ack, 6, to_tag="nobody"),  # not this dialog: 481
            request("OPTIONS", invite, ack, 1, to_tag=""),  # outside any dialog: 200
            request("INVITE", invite, ack, 1, to_tag=""),  # a new call to us: 405
            request("BYE", invite, ack, 7),  # 200, and the call is over
        ]
        answers = []
        for i, message in enumerate(exchanges):
            sip_peer.send(message, caller)
            answers.append((await sip_peer.next(2 + i))[0])
        await asyncio.wait_for(asyncio.shield(call.ended), 5)
    statuses = [start_line(a) for a in answers]
    assert statuses == [
        "SIP/2.0 405 Method Not Allowed",
        "SIP/2.0 405 Method Not Allowed",
        "SIP/2.0 500 CSeq Out of Order",
        "SIP/2.0 481 Call/Transaction Does Not Exist",
        "SIP/2.0 200 OK",
        "SIP/2.0 405 Method Not Allowed",
        "SIP/2.0 200 OK",
    ]
    assert answers[1] == answers[0]
    assert header(answers[0], "Allow") == "ACK, BYE, CANCEL, OPTIONS, REFER"
    assert header(answers[6], "CSeq") == "7 BYE"
    assert header(answers[4], "To").endswith(";tag=" + header(ack, "From").split(";tag=")[1])
    assert [r.method for r in call.requests] == ["INFO", "BYE", "BYE", "OPTIONS", "INVITE", "BYE"]
    assert call.ended.result().how is Ending.BYE_RECEIVED


async def test_an_answer_without_pcmu_fails_the_call_and_hangs_it_up(
    sip_peer: UdpPeer, rtp_peer: UdpPeer
) -> None:
    async with SipCall.dial(dial(sip_peer)) as call:
        invite, caller = await sip_peer.next(0)
        sip_peer.send(ok(invite, sip_peer, rtp_peer, formats="8"), caller)
        ack, _ = await sip_peer.next(1)
        bye, _ = await sip_peer.next(2)
        sip_peer.send(response(bye, "200 OK"), caller)
        with pytest.raises(CallFailed, match=r"does not accept PCMU.*BYE answered 200 OK"):
            await asyncio.wait_for(call.answered(), 5)
    assert start_line(ack).startswith("ACK ") and start_line(bye).startswith("BYE ")
    assert call.ended.result().how is Ending.FAILED
    assert rtp_peer.received == []


async def test_play_and_dtmf_refuse_bad_input(sip_peer: UdpPeer, rtp_peer: UdpPeer) -> None:
    async with SipCall.dial(dial(sip_peer)) as call:
        invite, caller = await sip_peer.next(0)
        sip_peer.send(ok(invite, sip_peer, rtp_peer, formats="0"), caller)  # no telephone-event
        await asyncio.wait_for(call.answered(), 5)
        with pytest.raises(ValueError, match="mono int16"):
            await call.play(np.zeros(160, dtype=np.float32))
        with pytest.raises(ValueError, match="mono int16"):
            await call.play(np.zeros((160, 2), dtype=np.int16))
        with pytest.raises(ValueError, match="not a DTMF digit"):
            await call.send_dtmf("5x")
        with pytest.raises(ValueError, match="20 ms ticks"):
            await call.send_dtmf("5", duration_ms=30)
        with pytest.raises(CallStateError, match="telephone-event"):
            await call.send_dtmf("5")
        report = await call.play(np.zeros(4800, dtype=np.int16), rate=48000)
        assert report.ticks == 5  # 100 ms, resampled to 8 kHz
        hang_up = asyncio.create_task(call.bye())
        bye, _ = await sip_peer.next(2)
        sip_peer.send(response(bye, "200 OK"), caller)
        await asyncio.wait_for(hang_up, 5)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("target", "tel:+15550100", "not a sip"),
        ("local_host", "0.0.0.0", "wildcard"),
        ("local_host", "localhost", "IP address"),
        ("from_number", "+1 555", "user part"),
        ("transport", "tls", "udp or tcp"),
        ("transfer_sipfrag", "OK", "status line"),
    ],
)
def test_dial_options_are_checked_up_front(field: str, value: str, error: str) -> None:
    fields = {"target": "sip:x@127.0.0.1", "from_number": "+15550199", "local_host": CALLER_HOST}
    with pytest.raises(ValueError, match=error):
        DialOptions(**{**fields, field: value})  # type: ignore[arg-type]


async def test_a_tcp_stream_that_breaks_framing_is_closed() -> None:
    received: list[object] = []
    transport = await TcpTransport.open(CALLER_HOST, 0, lambda m, s, r: received.append(m))
    try:
        reader, writer = await asyncio.open_connection(*transport.local)
        writer.write(b"OPTIONS sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed on us
        writer.close()
    finally:
        await transport.close()
    assert transport.malformed == 1 and received == []
