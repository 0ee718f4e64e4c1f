"""Twilio Media Streams messages: strict parsing, both directions round-trip."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip.twilio import protocol as p

START = {
    "event": "start",
    "sequenceNumber": "1",
    "streamSid": "MZ1",
    "start": {
        "streamSid": "MZ1",
        "accountSid": "AC1",
        "callSid": "CA1",
        "tracks": ["inbound"],
        "customParameters": {"From": "+15550001"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}


def media(seq: int = 2, payload: bytes = b"\xff" * 160, ts: int = 0) -> dict[str, object]:
    return {
        "event": "media",
        "sequenceNumber": str(seq),
        "streamSid": "MZ1",
        "media": {
            "track": "inbound",
            "chunk": "1",
            "timestamp": str(ts),
            "payload": base64.b64encode(payload).decode(),
        },
    }


def test_parses_twilio_documented_messages() -> None:
    start = p.parse_inbound(json.dumps(START))
    assert isinstance(start, p.Start)
    assert (start.call_sid, start.stream_sid, start.custom_parameters) == (
        "CA1",
        "MZ1",
        {"From": "+15550001"},
    )
    m = p.parse_inbound(json.dumps(media(payload=b"\x01\x02")))
    assert isinstance(m, p.Media) and m.payload == b"\x01\x02" and m.sequence_number == 2
    conn = p.parse_inbound('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    assert conn == p.Connected("Call", "1.0.0")
    dtmf = p.parse_inbound(
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5",'
        '"dtmf":{"track":"inbound_track","digit":"1"}}'
    )
    assert isinstance(dtmf, p.Dtmf) and dtmf.digit == "1"
    stop = p.parse_inbound(
        '{"event":"stop","sequenceNumber":"9","streamSid":"MZ1",'
        '"stop":{"accountSid":"AC1","callSid":"CA1"}}'
    )
    assert isinstance(stop, p.Stop) and stop.call_sid == "CA1"


@pytest.mark.parametrize(
    ("text", "fatal", "fragment"),
    [
        ("{not json", False, "JSON"),
        ("[1,2]", False, "object"),
        ('{"event":"bogus"}', False, "unknown event"),
        ('{"event": 3}', False, "event"),
        (
            json.dumps(media() | {"media": {"payload": "@@@", "timestamp": "0", "chunk": "1"}}),
            False,
            "base64",
        ),
        (json.dumps(media(payload=b"")), False, "empty"),
        (json.dumps(media(payload=b"\xff" * 8001)), False, "larger"),
        (json.dumps(media() | {"sequenceNumber": "-1"}), False, "sequenceNumber"),
        (json.dumps(media() | {"sequenceNumber": True}), False, "sequenceNumber"),
        (
            '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"digit":"x"}}',
            False,
            "DTMF",
        ),
        (
            json.dumps(
                START
                | {
                    "start": START["start"]
                    | {
                        "mediaFormat": {  # type: ignore[operator]
                            "encoding": "audio/l16",
                            "sampleRate": 16000,
                            "channels": 1,
                        }
                    }
                }
            ),
            True,
            "format",
        ),
    ],
)
def test_rejects_bad_messages(text: str, fatal: bool, fragment: str) -> None:
    with pytest.raises(p.ProtocolError) as exc:
        p.parse_inbound(text)
    assert exc.value.fatal is fatal
    assert fragment.lower() in exc.value.reason.lower()


inbound_messages = st.one_of(
    st.builds(p.Connected, st.just("Call"), st.text(max_size=5)),
    st.builds(
        p.Media,
        st.integers(0, 10**9),
        st.just("MZ1"),
        st.just("inbound"),
        st.integers(0, 10**6),
        st.integers(0, 10**9),
        st.binary(min_size=1, max_size=320),
    ),
    st.builds(p.Mark, st.integers(0, 100), st.just("MZ1"), st.text(min_size=1, max_size=20)),
    st.builds(
        p.Dtmf,
        st.integers(0, 100),
        st.just("MZ1"),
        st.just("inbound_track"),
        st.sampled_from(sorted(p.DTMF_DIGITS)),
    ),
    st.builds(p.Stop, st.integers(0, 100), st.just("MZ1"), st.just("AC1"), st.just("CA1")),
)


@given(inbound_messages)
def test_inbound_roundtrip(msg: p.InboundMessage) -> None:
    assert p.parse_inbound(p.serialize_inbound(msg)) == msg


@given(
    st.one_of(
        st.builds(p.OutMedia, st.just("MZ1"), st.binary(max_size=800)),
        st.builds(p.OutMark, st.just("MZ1"), st.text(min_size=1, max_size=40)),
        st.builds(p.OutClear, st.just("MZ1")),
    )
)
def test_outbound_roundtrip(msg: p.OutboundMessage) -> None:
    assert p.parse_outbound(p.serialize_outbound(msg)) == msg


def test_outbound_media_is_twilio_shape() -> None:
    text = p.serialize_outbound(p.OutMedia("MZ1", b"\xff\x7f"))
    assert json.loads(text) == {
        "event": "media",
        "streamSid": "MZ1",
        "media": {"payload": base64.b64encode(b"\xff\x7f").decode()},
    }


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_garbage_never_raises_anything_but_protocol_error(data: str | bytes) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.parse_inbound(data)
