"""The caller against a real SIP peer, sipp, playing the far end of each call flow.

Every test runs sipp on 127.0.0.1 and the caller on 127.0.0.2, so an address the caller took
from the wrong place (sipp's, a wildcard, loopback by habit) shows up in sipp's checks or in
its message log. RTP goes to a plain socket the SDP answer names, which checks the caller's
packets byte by byte and sends audio and key presses back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from lab.sipcaller import (
    CallRejected,
    CallStateError,
    Credentials,
    DialOptions,
    Ending,
    SipCall,
    SipTimeout,
    Timers,
)
from sip import g711
from tests.waiting import eventually

from .peers import RtpHeader, UdpPeer
from .sipp import CALLER_HOST, SIPP_HOST, sipp_uas

ANSWER_TIMEOUT_S = 10


def tone(freq: float, seconds: float, amplitude: float = 8000.0) -> npt.NDArray[np.int16]:
    t = np.arange(round(8000 * seconds)) / 8000
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@pytest.fixture
async def rtp_peer() -> AsyncIterator[UdpPeer]:
    peer = await UdpPeer.open(SIPP_HOST)
    try:
        yield peer
    finally:
        peer.close()


def keys(rtp: UdpPeer, **extra: str) -> dict[str, str]:
    return {"rtp_host": SIPP_HOST, "rtp_port": str(rtp.address[1]), **extra}


def options(target: str, transport: Literal["udp", "tcp"] = "udp") -> DialOptions:
    return DialOptions(
        target=target, from_number="+15550199", local_host=CALLER_HOST, transport=transport
    )


def rtp_packet(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, 0x1234) + payload


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_answered_call_carries_rtp_both_ways_and_the_caller_hangs_up(
    tmp_path: Path, rtp_peer: UdpPeer, transport: Literal["udp", "tcp"]
) -> None:
    clip = tone(440, 0.2)
    reply = g711.encode(tone(1000, 0.1))
    async with sipp_uas(
        "answer_caller_hangs_up.xml", tmp_path, keys=keys(rtp_peer), transport=transport
    ) as sipp:
        async with SipCall.dial(options(sipp.target("+15550100", transport), transport)) as call:
            await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
            played = await call.play(clip)
            pressed = await call.send_dtmf("5", duration_ms=60, gap_ms=40)
            # the far end talks back: 100 ms of tone, then presses 7 for 40 ms
            for i in range(5):
                frame = reply[160 * i : 160 * (i + 1)]
                rtp_peer.send(rtp_packet(0, 100 + i, 8000 + 160 * i, frame, i == 0), call.local_rtp)
            for i, flags in enumerate((0x0A, 0x8A, 0x8A, 0x8A)):
                duration = min(i + 1, 2) * 160
                payload = bytes([7, flags]) + duration.to_bytes(2, "big")
                rtp_peer.send(rtp_packet(101, 105 + i, 8800, payload, i == 0), call.local_rtp)
            rtp_peer.send(bytes([0x80, 200]) + bytes(26), call.local_rtp)  # RTCP: not audio
            rtp_peer.send(b"\x00" * 5, call.local_rtp)  # not RTP at all
            await eventually(lambda: _all_arrived(call))
        ended = call.ended.result()
    result = sipp.result
    assert result.returncode == 0, result.explain()

    assert ended.how is Ending.BYE_SENT and ended.detail == "BYE answered 200 OK"
    assert [p.status for p in call.progress] == [100, 180]

    # what the far end heard, checked with struct alone
    assert {source for _, source in rtp_peer.received} == {call.local_rtp}  # symmetric RTP
    packets = [RtpHeader.of(data) for data, _ in rtp_peer.received]
    assert {p.version for p in packets} == {2}
    assert call.media_stats.ticks == len(packets)  # one packet per tick, none lost or extra
    assert len({p.ssrc for p in packets}) == 1
    assert all((b.sequence - a.sequence) % 65536 == 1 for a, b in itertools.pairwise(packets))
    first = packets[0]
    audio = [(i, p) for i, p in enumerate(packets) if p.payload_type == 0]
    # one packet per 20 ms tick: audio timestamps are the tick's, 160 samples apart
    assert all(p.timestamp == (first.timestamp + 160 * i) % 2**32 for i, p in audio)
    assert all(len(p.payload) == 160 for _, p in audio)

    frames = [clip_bytes for clip_bytes in _frames(g711.encode(clip))]
    start = next(i for i, p in enumerate(packets) if p.payload == frames[0])
    assert [p.payload for p in packets[start : start + len(frames)]] == frames
    assert packets[start].timestamp == played.first_timestamp and played.ticks == len(frames)
    assert all(p.payload == bytes([0xFF]) * 160 for p in packets[:start])  # silence before

    events = [(i, p) for i, p in enumerate(packets) if p.payload_type == 101]
    k = events[0][0]
    assert [i for i, _ in events] == list(range(k, k + 5))  # 3 ticks held, 2 more end packets
    assert {p.timestamp for _, p in events} == {(first.timestamp + 160 * k) % 2**32}
    assert [p.payload.hex() for _, p in events] == [
        "050a00a0",  # digit 5, volume 10, 160 samples
        "050a0140",
        "058a01e0",  # E bit, 480 samples = 60 ms
        "058a01e0",
        "058a01e0",
    ]
    assert pressed.first_timestamp == events[0][1].timestamp and pressed.ticks == 7
    assert [i for i, p in enumerate(packets) if p.marker] == [0, k]
    after = packets[k + 5]
    assert after.payload_type == 0 and after.timestamp == (first.timestamp + 160 * (k + 5)) % 2**32

    # what the caller heard
    heard = call.heard()
    assert [p.sequence for p in heard.packets] == [100, 101, 102, 103, 104]
    np.testing.assert_array_equal(heard.pcm(), g711.decode(reply))
    digit = heard.digits[0]
    assert (digit.digit, digit.duration, digit.marker) == ("7", 320, True)

    # the caller advertised its own address, not sipp's, everywhere
    invite = result.sent_by_caller("INVITE")[0]
    name = transport.upper()
    assert re.search(
        rf"^Via: SIP/2.0/{name} {re.escape(CALLER_HOST)}:{call.local_sip[1]};branch=z9hG4bK",
        invite,
        re.M,
    )
    contact = rf"^Contact: <sip:\+15550199@{re.escape(CALLER_HOST)}:{call.local_sip[1]}[;>]"
    assert re.search(contact, invite, re.M)
    assert f"c=IN IP4 {CALLER_HOST}" in invite
    assert f"m=audio {call.local_rtp[1]} RTP/AVP 0 101" in invite
    if transport == "tcp":
        assert re.search(r"^Contact: <[^>]*;transport=tcp>", invite, re.M)


def _all_arrived(call: SipCall) -> bool:
    heard = call.heard()
    return heard.ignored == 2 and len(heard.digits) == 1 and heard.digits[0].ended is not None


def _frames(ulaw: bytes) -> list[bytes]:
    ulaw += bytes([0xFF]) * (-len(ulaw) % 160)
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


async def test_far_end_hangs_up_after_checking_the_caller_answers_options(
    tmp_path: Path, rtp_peer: UdpPeer
) -> None:
    async with (
        sipp_uas("answer_far_end_hangs_up.xml", tmp_path, keys=keys(rtp_peer)) as sipp,
        SipCall.dial(options(sipp.target("+15550100"))) as call,
    ):
        await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
        await asyncio.wait_for(asyncio.shield(call.bye_received), ANSWER_TIMEOUT_S)
        ended = await asyncio.shield(call.ended)
        with pytest.raises(CallStateError, match="ended"):
            await call.play(tone(440, 0.1))
        sent = len(rtp_peer.received)
        await asyncio.sleep(0.1)  # five ticks: no packet may follow the BYE
        assert len(rtp_peer.received) == sent
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert ended.how is Ending.BYE_RECEIVED
    assert [r.method for r in call.requests] == ["OPTIONS", "BYE"]
    assert sent > 0


async def test_refer_is_accepted_and_its_outcome_notified(
    tmp_path: Path, rtp_peer: UdpPeer
) -> None:
    async with (
        sipp_uas("refer.xml", tmp_path, keys=keys(rtp_peer)) as sipp,
        SipCall.dial(options(sipp.target("+15550100"))) as call,
    ):
        await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
        refer = await asyncio.wait_for(asyncio.shield(call.refer_received), ANSWER_TIMEOUT_S)
        notified = await asyncio.wait_for(asyncio.shield(call.transfer_notified), 10)
        await asyncio.wait_for(asyncio.shield(call.ended), ANSWER_TIMEOUT_S)
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert refer.refer_to == "<sip:+15550123@transfer.example.com>"
    assert refer.referred_by is not None and refer.referred_by.startswith("<sip:agent@")
    assert notified == 200
    assert call.ended.result().how is Ending.BYE_RECEIVED
    notify = sipp.result.sent_by_caller("NOTIFY")[0]
    assert notify.startswith("NOTIFY sip:sipp@")  # to the remote target, the 200's Contact
    assert re.search(r"^CSeq: 2 NOTIFY$", notify, re.M)  # after the INVITE's 1


@pytest.mark.parametrize(
    ("challenge", "password", "answered"),
    [
        ('realm="sipp.test", nonce="f84f1cec41e6cbe5aea9c8e88d359", qop="auth"', "secret", True),
        ('realm="sipp.test", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="x"', "secret", True),
        ('realm="sipp.test", nonce="f84f1cec41e6cbe5aea9c8e88d359", qop="auth"', "wrong", False),
    ],
    ids=["qop-auth", "no-qop", "wrong-password"],
)
async def test_401_challenge_is_answered_as_sipp_verifies_it(
    tmp_path: Path, rtp_peer: UdpPeer, challenge: str, password: str, answered: bool
) -> None:
    """sipp checks the Authorization with its own digest code (verifyauth): 200 or 403."""
    async with sipp_uas("auth_www.xml", tmp_path, keys=keys(rtp_peer, challenge=challenge)) as sipp:
        dial = dataclasses.replace(
            options(sipp.target("+15550100")), auth=Credentials("alice", password)
        )
        async with SipCall.dial(dial) as call:
            if answered:
                await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
            else:
                with pytest.raises(CallRejected) as rejected:
                    await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
                assert rejected.value.status == 403
    assert sipp.result.returncode == 0, sipp.result.explain()
    retry = sipp.result.sent_by_caller("INVITE")[1]
    assert re.search(r"^Authorization: Digest ", retry, re.M)
    invites = sipp.result.sent_by_caller("INVITE")
    call_ids = {_line(invite, "Call-ID") for invite in invites}
    assert len(call_ids) == 1  # the retry stays in the call (livekit-sip keys nonces by Call-ID)


async def test_407_challenge_is_answered_like_livekit_sip_expects(
    tmp_path: Path, rtp_peer: UdpPeer
) -> None:
    """livekit-sip's challenge: 407, MD5, no qop. The answer is checked here, per RFC 2069."""
    nonce = "3b1c7e0d9a"
    challenge = f'realm="trunk.test", nonce="{nonce}", algorithm=MD5'
    async with sipp_uas(
        "auth_proxy.xml", tmp_path, keys=keys(rtp_peer, challenge=challenge)
    ) as sipp:
        dial = dataclasses.replace(
            options(sipp.target("+15550100")), auth=Credentials("twilio", "s3cret")
        )
        async with SipCall.dial(dial) as call:
            await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
    assert sipp.result.returncode == 0, sipp.result.explain()
    retry = sipp.result.sent_by_caller("INVITE")[1]
    value = re.search(r"^Proxy-Authorization: Digest (.*)$", retry, re.M)
    assert value is not None
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', value.group(1)))
    uri = retry.split(" ")[1]
    ha1 = hashlib.md5(b"twilio:trunk.test:s3cret").hexdigest()
    ha2 = hashlib.md5(f"INVITE:{uri}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    assert params["username"] == "twilio" and params["uri"] == uri and params["nonce"] == nonce
    assert params["response"] == expected
    assert "qop" not in params


async def test_busy_is_acknowledged_in_its_transaction(tmp_path: Path, rtp_peer: UdpPeer) -> None:
    async with (
        sipp_uas("busy.xml", tmp_path, keys=keys(rtp_peer)) as sipp,
        SipCall.dial(options(sipp.target("+15550100"))) as call,
    ):
        with pytest.raises(CallRejected) as rejected:
            await asyncio.wait_for(call.answered(), ANSWER_TIMEOUT_S)
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert (rejected.value.status, rejected.value.reason) == (486, "Busy Here")
    assert call.ended.result().how is Ending.REJECTED
    invite, ack = sipp.result.sent_by_caller("INVITE")[0], sipp.result.sent_by_caller("ACK")[0]
    assert _line(ack, "Via") == _line(invite, "Via")  # same branch: the INVITE's transaction
    assert ack.split(" ")[1] == invite.split(" ")[1]
    assert ";tag=" in _line(ack, "To")


def _line(message: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", message, re.M)
    assert match is not None, f"no {name} in {message}"
    return match.group(1)


async def test_cancel_while_ringing(tmp_path: Path, rtp_peer: UdpPeer) -> None:
    async with (
        sipp_uas("cancel.xml", tmp_path, keys=keys(rtp_peer)) as sipp,
        SipCall.dial(options(sipp.target("+15550100"))) as call,
    ):
        await eventually(lambda: [p.status for p in call.progress] == [180])
        await call.cancel()
        with pytest.raises(CallRejected) as rejected:
            await call.answered()
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert rejected.value.status == 487
    assert call.ended.result().how is Ending.CANCELLED
    invite, cancel = (
        sipp.result.sent_by_caller("INVITE")[0],
        sipp.result.sent_by_caller("CANCEL")[0],
    )
    assert _line(cancel, "Via") == _line(invite, "Via")
    assert _line(cancel, "To") == _line(invite, "To")


async def test_silent_peer_times_out_with_a_clear_error() -> None:
    """Timer B with T1 = 10 ms: SipTimeout after 0.64 s, retransmissions byte-identical."""
    dead = await UdpPeer.open(SIPP_HOST)
    try:
        target = f"sip:+15550100@{SIPP_HOST}:{dead.address[1]}"
        dial = dataclasses.replace(options(target), timers=Timers(t1=0.01))
        async with asyncio.timeout(10), SipCall.dial(dial) as call:
            with pytest.raises(SipTimeout, match="no response to INVITE"):
                await call.answered()
        assert call.ended.result().how is Ending.FAILED
        invites = [data for data, _ in dead.received]
        assert len(invites) >= 2 and len(set(invites)) == 1
    finally:
        dead.close()
