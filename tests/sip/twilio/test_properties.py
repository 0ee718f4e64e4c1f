"""Properties of the Twilio parser and the stream sequencer, over generated input.

The parser faces the internet, so its contract is total: whatever text or bytes arrive, it
returns a message or raises :class:`ProtocolError` — no other exception, for any input — and a
message it serialises comes back equal. The sequencer's contract over any order of messages:
each is accepted (with a bounded amount of silence to insert) or raised as a counted
:class:`ProtocolError`; nothing follows ``stop``; and a stream that keeps misbehaving is closed.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from sip.twilio import protocol as p
from sip.twilio.security import StreamTokenError, StreamTokens
from sip.twilio.sequencer import MAX_ERRORS, MAX_FILL_MS, StreamSequencer

#: text JSON can carry but UTF-8 cannot (lone surrogates, from escapes like "\udcff")
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | surrogates
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=16,
)
events = st.sampled_from(["connected", "start", "media", "mark", "dtmf", "stop", "clear"])
counters = st.integers(min_value=0, max_value=10**6).map(str) | json_scalars
sids = st.sampled_from(["MZ1", "MZ2"]) | st.text(max_size=300) | surrogates


@st.composite
def twilio_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """An object with Twilio's shape, each field right, wrong or missing."""
    event = draw(events | st.text(max_size=10))
    msg: dict[str, Any] = {"event": event}
    if draw(st.booleans()):
        msg["sequenceNumber"] = draw(counters)
    if draw(st.booleans()):
        msg["streamSid"] = draw(sids)
    if draw(st.booleans()):
        msg["protocol"] = draw(sids | json_values)
    body: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "payload": st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())
                | json_values,
                "timestamp": counters,
                "chunk": counters,
                "track": json_values,
                "digit": st.sampled_from(list("0123456789*#ABCDx")) | json_values,
                "name": st.text(max_size=300) | json_values,
                "mediaFormat": st.fixed_dictionaries(
                    {
                        "encoding": st.sampled_from([p.MULAW, "audio/l16"]) | json_values,
                        "sampleRate": st.sampled_from([8000, "8000", 16000]) | json_values,
                    },
                    optional={"channels": st.sampled_from([1, 2]) | json_values},
                )
                | json_values,
                "customParameters": st.dictionaries(st.text(max_size=8), st.text(max_size=8))
                | json_values,
                "tracks": st.lists(st.text(max_size=8), max_size=3) | json_values,
                "callSid": json_values,
                "accountSid": json_values,
                "streamSid": sids | json_values,
            },
        )
    )
    msg[event] = draw(st.just(body) | json_values)
    return msg


frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    json_values.map(json.dumps),
    twilio_shaped().map(json.dumps),
    twilio_shaped().map(lambda m: json.dumps(m).encode("utf-16")),
)


@given(frames)
@example('{"event": "connected", "protocol": "Call\\udcff"}')
@example('{"event": "connected", "protocol": "Call\udcff"}')
def test_the_parser_returns_a_message_or_raises_a_protocol_error(frame: str | bytes) -> None:
    try:
        msg = p.parse_inbound(frame)
    except p.ProtocolError as err:
        assert err.reason
        return
    assert isinstance(msg, p.Connected | p.Start | p.Media | p.Dtmf | p.Mark | p.Stop)
    # whatever it carries can be logged, signed and named after
    json.dumps(dataclasses.asdict(msg), default=bytes.hex, ensure_ascii=False).encode("utf-8")
    if isinstance(msg, p.Media):
        assert 0 < len(msg.payload) <= p.MAX_MEDIA_PAYLOAD


@given(frames)
def test_the_outbound_parser_returns_a_message_or_raises_a_protocol_error(
    frame: str | bytes,
) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.parse_outbound(frame)


names = st.text(min_size=1, max_size=40)
seqs = st.integers(min_value=0, max_value=10**12)
messages = st.one_of(
    st.builds(p.Connected, names, st.text(max_size=8)),
    st.builds(
        p.Start,
        seqs,
        names,
        names,
        names,
        st.lists(names, max_size=2).map(tuple),
        st.dictionaries(st.text(max_size=8), st.text(max_size=64), max_size=3),
    ),
    st.builds(
        p.Media, seqs, names, names, seqs, seqs, st.binary(min_size=1, max_size=p.FRAME_BYTES)
    ),
    st.builds(p.Dtmf, seqs, names, names, st.sampled_from(sorted(p.DTMF_DIGITS))),
    st.builds(p.Mark, seqs, names, st.text(min_size=1, max_size=p.MAX_MARK_NAME)),
    st.builds(p.Stop, seqs, names, st.text(max_size=8), st.text(max_size=8)),
)


@given(messages)
def test_what_is_serialised_parses_back_the_same(msg: p.InboundMessage) -> None:
    assert p.parse_inbound(p.serialize_inbound(msg)) == msg


#: messages of one stream (MZ1) or another, in any order, with any numbering and timing
stream_messages = st.one_of(
    st.builds(p.Connected, st.just("Call"), st.just("1")),
    st.builds(
        p.Start,
        st.integers(0, 50),
        st.sampled_from(["MZ1", "MZ2"]),
        st.just("AC1"),
        st.just("CA1"),
        st.just(("inbound",)),
        st.just({}),
    ),
    st.builds(
        p.Media,
        st.integers(0, 50),
        st.sampled_from(["MZ1", "MZ2"]),
        st.just("inbound"),
        st.integers(0, 50),
        st.integers(0, 5000),
        st.binary(min_size=1, max_size=p.FRAME_BYTES),
    ),
    st.builds(p.Dtmf, st.integers(0, 50), st.just("MZ1"), st.just("inbound"), st.just("5")),
    st.builds(p.Mark, st.integers(0, 50), st.just("MZ1"), st.just("1:160")),
    st.builds(p.Stop, st.integers(0, 50), st.just("MZ1"), st.just("AC1"), st.just("CA1")),
)


@given(st.lists(stream_messages, max_size=150))
def test_the_sequencer_accepts_or_drops_each_message_and_nothing_after_stop(
    stream: list[p.InboundMessage],
) -> None:
    seq = StreamSequencer()
    raised = 0
    closed = False
    for msg in stream:
        stopped = seq.stopped
        try:
            fill = seq.accept(msg)
        except p.ProtocolError as err:
            raised += 1
            closed = closed or err.fatal
            if err.fatal:
                assert raised > MAX_ERRORS
            continue
        assert not stopped, "a message was accepted after stop"
        assert 0 <= fill <= MAX_FILL_MS * p.SAMPLE_RATE // 1000
        if not isinstance(msg, p.Connected | p.Start):
            assert seq.start is not None and msg.stream_sid == seq.start.stream_sid
    assert seq.stats.dropped == raised
    assert closed == (raised > MAX_ERRORS)


#: tokens of the issued shape (nonce.expiry.mac) and of any other
tokens = st.text(max_size=60) | st.builds(
    "{}.{}.{}".format, st.text(max_size=12) | surrogates, st.integers(0, 2**40), st.text()
)


@given(token=tokens, call_sid=st.text(max_size=40) | surrogates)
@example(token="nonce\udcff.1.mac", call_sid="CA1")
def test_any_stream_token_is_redeemed_or_refused(token: str, call_sid: str) -> None:
    with contextlib.suppress(StreamTokenError):
        StreamTokens(b"secret").redeem(token, call_sid)
