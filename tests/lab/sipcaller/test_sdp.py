from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.sipcaller.errors import SdpError
from lab.sipcaller.sdp import Answer, offer, parse_answer


def test_offer_is_what_twilio_offers() -> None:
    assert offer("10.88.0.2", 10002, 42, 3) == (
        "v=0\r\n"
        "o=- 42 3 IN IP4 10.88.0.2\r\n"
        "s=trunkline sipcaller\r\n"
        "c=IN IP4 10.88.0.2\r\n"
        "t=0 0\r\n"
        "m=audio 10002 RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )
    assert "c=IN IP6 ::1\r\n" in offer("::1", 10002, 1)
    with pytest.raises(SdpError, match="IP address"):
        offer("localhost", 10002, 1)


LIVEKIT_LIKE = """v=0
o=LiveKit 1733000000 1733000000 IN IP4 10.88.0.1
s=LiveKit
t=0 0
m=audio 10044 RTP/AVP 0 101
c=IN IP4 10.88.0.1
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
"""


def test_answer_with_media_level_connection() -> None:
    assert parse_answer(LIVEKIT_LIKE) == Answer("10.88.0.1", 10044, 0, 101, 20, "sendrecv")


def test_answer_with_session_connection_dynamic_events_and_a_refused_stream() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\n"
        "m=audio 0 RTP/AVP 0\r\n"
        "m=audio 4000 RTP/AVP 96 0\r\na=rtpmap:96 telephone-event/8000\r\na=recvonly\r\n"
    )
    assert parse_answer(text) == Answer("2001:db8::5", 4000, 0, 96, None, "recvonly")


def test_pcmu_may_be_renumbered_and_events_may_be_missing() -> None:
    text = "v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 8 97\na=rtpmap:97 PCMU/8000\n"
    assert parse_answer(text) == Answer("1.2.3.4", 4000, 97, None, None, "sendrecv")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "must start with v=0"),
        ("v=1\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 0\n", "must start with v=0"),
        ("v=0\nc=IN IP4 1.2.3.4\n", "no accepted m=audio"),
        ("v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP 8\n", "does not accept PCMU"),
        ("v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/SAVP 0\n", "RTP/SAVP"),
        ("v=0\nm=audio 4000 RTP/AVP 0\n", "no c= line"),
        ("v=0\nc=IN IP4 example.com\nm=audio 4000 RTP/AVP 0\n", "not an IP address"),
        ("v=0\nc=IN IP9 1.2.3.4\nm=audio 4000 RTP/AVP 0\n", "bad connection"),
        ("v=0\nc=IN IP4 ::1\nm=audio 4000 RTP/AVP 0\n", "is not IP4"),
        ("v=0\nc=IN IP4 1.2.3.4\nm=audio 70000 RTP/AVP 0\n", "bad audio port"),
        ("v=0\nc=IN IP4 1.2.3.4\nm=audio 4000 RTP/AVP zero\n", "bad payload types"),
        ("v=0\nc=IN IP4 1.2.3.4\nm=audio\n", "bad m= line"),
        ("v=0\nnonsense\n", "bad SDP line"),
    ],
)
def test_unusable_answers_say_why(text: str, error: str) -> None:
    with pytest.raises(SdpError, match=error):
        parse_answer(text)


@given(st.lists(st.sampled_from(["v=0", "c=IN IP4 1.2.3.4", "m=audio 4000 RTP/AVP 0", "a=rtpmap:0",
                                 "m=", "c=IN", "a=ptime:x", "m=audio x y", "c=IN IP4 ::1/5", "x",
                                 "a=rtpmap:101 telephone-event/8000", "m=audio 4000 RTP/AVP"]),
                max_size=8))  # fmt: skip
def test_answer_parser_raises_nothing_but_sdp_error(lines: list[str]) -> None:
    with contextlib.suppress(SdpError):
        parse_answer("\n".join(lines))
