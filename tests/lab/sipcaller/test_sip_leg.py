"""The sip leg of a one-number split, placed for real: the Twilio caller follows the sidecar's
``<Dial><Sip>`` and :class:`lab.sip_leg.SipLegDialer` dials a real SIP peer (sipp, challenging
with a 407 like livekit-sip) with the TwiML's credentials and headers, holds the conversation on
RTP, hangs up, and reports ``DialCallStatus`` back to the webhook, which ends the call.

The end-to-end version through livekit-sip, the room and the worker is
``tests/agent/test_sip_split.py`` (it needs livekit-sip).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
from aiohttp.test_utils import TestClient, TestServer

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.twiml import Hangup, SipDial
from lab.sip_leg import SipLegDialer, caller_script, dial_options, dial_status
from sip import g711
from sip.sidecar.app import create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from tests.sip.sidecar.test_app import RecordingBackend
from trunkline.config import settings_from_env

from .peers import UdpPeer
from .sipp import CALLER_HOST, SIPP_HOST, sipp_uas

RATE = 8000
SILENCE = bytes([0xFF]) * 160
CHALLENGE = 'realm="trunk.test", nonce="5f1e2d", algorithm=MD5'


def tone(freq: float, seconds: float) -> bytes:
    t = np.arange(round(RATE * seconds)) / RATE
    return g711.encode((8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16))


def frames(ulaw: bytes) -> list[bytes]:
    return [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]


def test_dial_status_is_what_twilio_reports_for_the_sip_response() -> None:
    assert [dial_status(s) for s in (486, 600, 408, 480, 487, 403, 503)] == [
        "busy",
        "busy",
        "no-answer",
        "no-answer",
        "canceled",
        "failed",
        "failed",
    ]


def test_the_invite_carries_the_twiml_s_uri_credentials_and_headers() -> None:
    dial = SipDial(
        "sip:+15550100@10.0.0.1:5060;transport=tcp",
        username="trunkline",
        password="secret",
        headers={"X-Trunkline-Call-Sid": "CA1"},
    )
    invite = dial_options(dial, "+15550199", "10.0.0.2")
    assert invite.target == dial.uri and invite.transport == "tcp"
    assert invite.auth is not None and invite.auth.username == "trunkline"
    assert invite.headers == (("X-Trunkline-Call-Sid", "CA1"),)
    plain = dial_options(SipDial("sip:+1@10.0.0.1"), "+15550199", "10.0.0.2")
    assert plain.transport == "udp" and plain.auth is None and plain.headers == ()


def test_the_caller_behaves_on_the_sip_leg_as_on_the_stream() -> None:
    speech = [frames(tone(300, 0.1))]
    options = CallerOptions(url="http://x", speech=speech, turns=3, quiet_ms=250, linger_s=0.5)
    script = caller_script(options)
    assert (script.turns, script.quiet_ms, script.linger_s, script.clip_rate) == (3, 250, 0.5, RATE)
    assert len(script.clips[0]) == 800
    assert np.array_equal(script.clips[0], g711.decode(tone(300, 0.1)))


async def far_end(peer: UdpPeer) -> None:
    """The answering side's media: a 400 ms greeting once the caller's RTP arrives, and a
    300 ms reply after the caller has spoken and gone quiet, paced 20 ms per packet."""
    seq, ts = 0, 0

    async def say(ulaw: bytes, to: tuple[str, int]) -> None:
        nonlocal seq, ts
        for i, frame in enumerate(frames(ulaw)):
            header = struct.pack("!BBHII", 0x80, 0x80 if i == 0 else 0, seq, ts, 0x5EED)
            peer.send(header + frame, to)
            seq, ts = seq + 1, ts + 160
            await asyncio.sleep(0.02)

    _, caller = await peer.next(0, 10)
    await say(tone(1000, 0.4), caller)
    index, spoke, quiet = 1, False, 0
    while not spoke or quiet < 10:
        data, _ = await peer.next(index, 10)
        index += 1
        audio = data[1] & 0x7F == 0 and data[12:] != SILENCE
        spoke, quiet = spoke or audio, 0 if audio else quiet + 1
    await say(tone(600, 0.3), caller)


@contextlib.asynccontextmanager
async def answering(peer: UdpPeer) -> AsyncIterator[None]:
    task = asyncio.create_task(far_end(peer))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await task


def caller_options(url: str, sid: str) -> CallerOptions:
    return CallerOptions(
        url=url,
        speech=[frames(tone(300, 0.3))],
        turns=1,
        quiet_ms=300,
        greeting_timeout_s=10,
        reply_timeout_s=10,
        linger_s=0.0,
        call_sid=sid,
    )


async def test_the_dialer_places_the_leg_answers_the_challenge_and_measures_the_conversation(
    tmp_path: Path,
) -> None:
    peer = await UdpPeer.open(SIPP_HOST)
    keys = {"rtp_host": SIPP_HOST, "rtp_port": str(peer.address[1]), "challenge": CHALLENGE}
    try:
        async with sipp_uas("auth_proxy.xml", tmp_path, keys=keys) as sipp, answering(peer):
            dial = SipDial(
                sipp.target("+15550100"),
                username="twilio",
                password="s3cret",
                headers={"X-Trunkline-Call-Sid": "CA42"},
            )
            outcome = await SipLegDialer(CALLER_HOST).dial(dial, caller_options("x", "CA42"))
    finally:
        peer.close()
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert outcome.status == "completed" and outcome.call is not None
    retry = sipp.result.sent_by_caller("INVITE")[1]
    assert re.search(r"^Proxy-Authorization: Digest .*username=\"twilio\"", retry, re.M)
    assert re.search(r"^X-Trunkline-Call-Sid: CA42$", retry, re.M)
    call = outcome.call
    assert call.call_sid == "CA42" and call.hung_up_by == "caller"
    assert call.greeting is not None and call.greeting.heard_ms >= 380
    (turn,) = call.turns
    assert turn.latency_ms is not None and turn.latency_ms > 0
    assert turn.heard_ms >= 280 and turn.speech_end is not None
    assert call.cadence.messages >= 35  # 20 + 15 packets of the far end's audio
    assert len(call.heard) >= RATE * 0.7


async def test_a_busy_leg_is_reported_busy(tmp_path: Path) -> None:
    peer = await UdpPeer.open(SIPP_HOST)
    keys = {"rtp_host": SIPP_HOST, "rtp_port": str(peer.address[1])}
    try:
        async with sipp_uas("busy.xml", tmp_path, keys=keys) as sipp:
            dial = SipDial(sipp.target("+15550100"))
            outcome = await SipLegDialer(CALLER_HOST).dial(dial, caller_options("x", "CA43"))
    finally:
        peer.close()
    assert sipp.result.returncode == 0, sipp.result.explain()
    assert (outcome.status, outcome.call) == ("busy", None)


async def test_one_number_split_the_caller_follows_dial_sip_to_a_real_sip_peer_and_hangs_up(
    tmp_path: Path,
) -> None:
    """The sidecar sends every call down the sip path (share 1): the Twilio caller dials the
    TwiML's URI over TCP with the trunk's digest credentials, talks, hangs up, reports
    ``DialCallStatus=completed``, and the webhook ends the call without a stream."""
    peer = await UdpPeer.open(SIPP_HOST)
    keys = {"rtp_host": SIPP_HOST, "rtp_port": str(peer.address[1]), "challenge": CHALLENGE}
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    try:
        async with sipp_uas("auth_proxy.xml", tmp_path, keys=keys, transport="tcp") as sipp:
            env = {
                "LIVEKIT_SIP_URI": f"sip:{sipp.host}:{sipp.port}",
                "TRUNKLINE_SIP_USERNAME": "twilio",
                "TRUNKLINE_SIP_PASSWORD": "s3cret",
                "TRUNKLINE_SIP_SHARE": "1",
            }
            app = create_app(settings_from_env(env), factory)
            async with (
                TestClient(TestServer(app)) as client,
                aiohttp.ClientSession() as http,
                answering(peer),
            ):
                url = str(client.make_url("")).rstrip("/")
                dialer = SipLegDialer(CALLER_HOST)
                caller = SimulatedCaller(caller_options(url, "CA44"), http, dialer)
                result = await caller.run()
    finally:
        peer.close()
    assert sipp.result.returncode == 0, sipp.result.explain()
    dial, hangup = caller.answers
    assert isinstance(dial, SipDial) and hangup == Hangup()
    assert dial.uri == f"sip:+15550100002@{sipp.host}:{sipp.port};transport=tcp"
    assert not backends  # no stream was opened: the call went the sip path only
    assert result.call_sid == "CA44" and result.greeting is not None
    assert [t.turn for t in result.turns] == [1] and result.turns[0].heard_ms >= 280
    retry = sipp.result.sent_by_caller("INVITE")[1]
    assert re.search(r"^X-Trunkline-Call-Sid: CA44$", retry, re.M)
