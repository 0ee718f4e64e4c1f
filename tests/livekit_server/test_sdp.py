"""The SDP facts the server reads and writes itself, on SDP produced by a real WebRTC stack."""

from __future__ import annotations

import json
import re

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack

from . import sdp


async def aiortc_offer() -> str:
    """mid 0 sends audio, mid 1 only receives, mid 2 carries data channels."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.createDataChannel("_reliable")
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def msid_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("a=msid:")]


async def test_stream_ids_are_rewritten_per_media_section() -> None:
    offer = await aiortc_offer()
    track_ids = [line.split()[1] for line in msid_lines(offer)]
    named = sdp.set_stream_ids(offer, {"1": sdp.stream_id("PA_x", "TR_y")})
    lines = msid_lines(named)
    assert lines[1] == f"a=msid:PA_x|TR_y {track_ids[1]}"
    assert lines[0] == msid_lines(offer)[0], "sections not named stay as they were"
    assert named.replace(lines[1], "") == offer.replace(msid_lines(offer)[1], "")


async def test_sending_tracks_are_the_sending_audio_sections() -> None:
    offer = await aiortc_offer()
    (first_track,) = [line.split()[1] for line in msid_lines(offer)][:1]
    assert sdp.sending_tracks(offer) == {"0": first_track}
    rejected = re.sub(r"m=audio \d+", "m=audio 0", offer, count=1)
    assert sdp.sending_tracks(rejected) == {}
    inactive = offer.replace("a=sendonly", "a=inactive", 1)
    assert sdp.sending_tracks(inactive) == {}


@pytest.mark.parametrize("text", ["not sdp", "v=0\r\ns=-\r\n", ""])
def test_what_is_not_sdp_is_refused(text: str) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.check(text)


async def test_real_sdp_passes_the_check() -> None:
    sdp.check(await aiortc_offer())


def trickle(candidate: str, **extra: object) -> str:
    return json.dumps({"candidate": candidate, **extra})


HOST = "candidate:1 1 udp 2122260223 10.88.0.1 54321 typ host generation 0 ufrag abc"


def test_trickled_udp_candidates_are_parsed() -> None:
    candidate = sdp.parse_trickle(trickle(HOST, sdpMid="0", sdpMLineIndex=0))
    assert candidate is not None
    assert (candidate.ip, candidate.port, candidate.type) == ("10.88.0.1", 54321, "host")
    assert (candidate.sdpMid, candidate.sdpMLineIndex) == ("0", 0)


@pytest.mark.parametrize(
    "init",
    [
        trickle("", sdpMid="0"),
        trickle("candidate:2 1 tcp 1518280447 10.88.0.1 9 typ host tcptype active", sdpMid="0"),
    ],
)
def test_end_of_candidates_and_tcp_add_nothing(init: str) -> None:
    assert sdp.parse_trickle(init) is None


@pytest.mark.parametrize(
    "init",
    ["{not json", "[1, 2]", trickle(HOST), trickle("candidate:1 1 udp", sdpMid="0")],
)
def test_malformed_trickles_are_errors(init: str) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.parse_trickle(init)
