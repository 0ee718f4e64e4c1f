from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.sipcaller.errors import SipParseError
from lab.sipcaller.message import (
    MAX_MESSAGE_BYTES,
    Headers,
    Request,
    Response,
    StreamFramer,
    parse,
    response_to,
)

INVITE = (
    b"\r\n"  # a stray keep-alive before the start line is ignored
    b"INVITE sip:+15550100@10.88.0.1:5060 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKb\r\n"
    b"Via: SIP/2.0/TCP 10.0.0.4;branch=z9hG4bKc\r\n"
    b"max-forwards: 70\r\n"
    b'f: "Caller" <sip:+15550199@10.0.0.2>;tag=abc\r\n'
    b"t: <sip:+15550100@10.88.0.1>\r\n"
    b"i: call-1@10.0.0.2\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:+15550199@10.0.0.2:5060>\r\n"
    b"Subject: a folded\r\n"
    b"\tline\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nextra bytes past Content-Length"
)


def test_parse_request_with_compact_forms_folding_and_lists() -> None:
    message = parse(INVITE)
    assert isinstance(message, Request)
    assert (message.method, message.uri) == ("INVITE", "sip:+15550100@10.88.0.1:5060")
    assert message.headers.get_all("via") == [
        "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKa",
        "SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKb",
        "SIP/2.0/TCP 10.0.0.4;branch=z9hG4bKc",
    ]
    assert message.branch == "z9hG4bKa"
    assert message.call_id == "call-1@10.0.0.2"
    assert message.header("Max-Forwards") == "70"
    assert message.header("Subject") == "a folded line"
    assert message.header("Content-Type") == "application/sdp"
    assert (message.cseq.number, message.cseq.method) == (1, "INVITE")
    assert message.from_.display == "Caller" and message.from_.tag == "abc"
    assert message.body == b"v=0\r"  # Content-Length decides, not the datagram's end
    assert [name for name, _ in message.headers][:3] == ["Via", "Via", "Max-Forwards"]


def test_parse_response_with_bare_lf_and_no_content_length() -> None:
    data = (
        b"SIP/2.0 486 Busy Here Now\n"
        b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>;tag=2\n"
        b"Call-ID: x\nCSeq: 7 INVITE\n\nbody"
    )
    message = parse(data)
    assert isinstance(message, Response)
    assert (message.status, message.reason, message.body) == (486, "Busy Here Now", b"body")


def test_encode_writes_a_matching_content_length_and_round_trips() -> None:
    message = parse(INVITE)
    message.body = b"v=0\r\n"
    data = message.encode()
    assert data.count(b"Content-Length") == 1 and b"Content-Length: 5\r\n\r\nv=0\r\n" in data
    again = parse(data)
    assert again.encode() == data


BASE = b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"INVITE sip:a@h SIP/2.0\r\n" + BASE, "no blank line"),
        (b"INVITE sip:a@h SIP/3.0\r\n\r\n", "unsupported version"),
        (b"INVITE  sip:a@h SIP/2.0\r\n\r\n", "bad request line"),
        (b"INV(TE sip:a@h SIP/2.0\r\n\r\n", "bad request line"),
        (b"INVITE nouri SIP/2.0\r\n\r\n", "bad Request-URI"),
        (b"SIP/2.0 99 Low\r\n\r\n", "bad status line"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "bad status line"),
        (b"INVITE sip:a@h SIP/2.0\r\nNoColon\r\n\r\n", "without ':'"),
        (b"INVITE sip:a@h SIP/2.0\r\nBad Name: x\r\n\r\n", "bad header name"),
        (b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"CSeq: 1 INVITE\r\n\r\n", "no Call-ID"),
        (b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"Call-ID: x\r\nCSeq: 1 BYE\r\n\r\n", "match"),
        (b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"Call-ID: x\r\nCSeq: x INVITE\r\n\r\n", "CSeq"),
        (
            b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"Call-ID: x\r\nCSeq: 2147483648 INVITE\r\n\r\n",
            "2\\*\\*31",
        ),
        (
            b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"Call-ID: x\r\nCSeq: 1 INVITE\r\nl: ab\r\n\r\n",
            "Content-Length",
        ),
        (
            b"INVITE sip:a@h SIP/2.0\r\n"
            + BASE
            + b"Call-ID: x\r\nCSeq: 1 INVITE\r\nl: 9\r\n\r\nab",
            "shorter",
        ),
        (b"INVITE sip:a@h SIP/2.0\r\nSubject: \xff\r\n\r\n", "UTF-8"),
        (
            b"INVITE sip:a@h SIP/2.0\r\nVia: nonsense\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\n"
            b"Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
            "bad Via",
        ),
        (
            b"INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: nobody\r\nTo: <sip:b@h>\r\n"
            b"Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
            "not a URI",
        ),
        (b"X" * (MAX_MESSAGE_BYTES + 1), "exceeds"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(data: bytes, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse(data)


@given(st.binary(max_size=400))
def test_parser_raises_nothing_but_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse(data)


@given(
    st.lists(
        st.sampled_from([b"\r\n", b"\n", b":", b" ", b";", b"<", b">", b'"', b","]), max_size=60
    )
)
def test_parser_survives_separator_soup_after_a_valid_start(parts: list[bytes]) -> None:
    with contextlib.suppress(SipParseError):
        parse(b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"".join(parts))


REQUIRED = {
    "Via": "SIP/2.0/UDP h;branch=z9hG4bK1",
    "From": "<sip:a@h>;tag=1",
    "To": "<sip:b@h>",
    "Call-ID": "x",
    "CSeq": "1 INVITE",
    "Content-Length": "0",
}


@given(
    st.sampled_from(sorted(REQUIRED)),
    st.one_of(st.text(max_size=40), st.text(alphabet="0123456789²٣ INVITE;:<>@", max_size=12)),
)
def test_any_value_of_a_required_header_fails_cleanly(name: str, value: str) -> None:
    """Unicode digits ('²' passes str.isdigit, not int) and the like must not escape."""
    fields = {**REQUIRED, name: value}
    head = "".join(f"{n}: {v}\r\n" for n, v in fields.items())
    with contextlib.suppress(SipParseError):
        parse(f"INVITE sip:a@h SIP/2.0\r\n{head}\r\n".encode())


def test_unicode_digits_are_not_numbers() -> None:
    fields = {**REQUIRED, "CSeq": "² INVITE"}
    head = "".join(f"{n}: {v}\r\n" for n, v in fields.items())
    with pytest.raises(SipParseError, match="bad CSeq"):
        parse(f"INVITE sip:a@h SIP/2.0\r\n{head}\r\n".encode())


_RESERVED = {
    "via", "from", "to", "call-id", "cseq", "content-length", "v", "f", "t", "i", "l", "m",
    "contact", "route", "record-route", "allow", "accept", "require", "proxy-require",
    "supported", "k", "unsupported", "allow-events", "u",
}  # fmt: skip


def _free(name: str) -> bool:
    """Not a header the test message already has (or a compact form of one)."""
    return name.lower() not in _RESERVED


tokens = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,12}", fullmatch=True)
values = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=","), max_size=30
).map(str.strip)


@given(
    method=st.from_regex(r"[A-Z]{3,10}", fullmatch=True),
    extra=st.lists(st.tuples(tokens.filter(_free), values), max_size=5),
    body=st.binary(max_size=200),
)
def test_requests_round_trip(method: str, extra: list[tuple[str, str]], body: bytes) -> None:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport"),
            ("From", "<sip:a@h>;tag=1"),
            ("To", "<sip:b@h>"),
            ("Call-ID", "c@h"),
            ("CSeq", f"5 {method}"),
            *extra,
        ]
    )
    request = Request(headers=headers, body=body, method=method, uri="sip:b@h:5060")
    parsed = parse(request.encode())
    assert isinstance(parsed, Request)
    assert (parsed.method, parsed.uri, parsed.body) == (method, "sip:b@h:5060", body)
    assert list(parsed.headers)[:-1] == list(headers)  # plus the Content-Length written


def test_stream_framer_cuts_messages_at_any_chunk_boundary() -> None:
    one = parse(INVITE)
    one.body = b"v=0\r\n"
    data = b"\r\n\r\n" + one.encode() + b"\r\n" + one.encode()
    for cut in range(1, len(data)):
        framer = StreamFramer()
        messages = framer.feed(data[:cut]) + framer.feed(data[cut:])
        assert [m.encode() for m in messages] == [one.encode(), one.encode()]


def test_stream_framer_needs_content_length() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="no Content-Length"):
        framer.feed(b"INVITE sip:a@h SIP/2.0\r\n" + BASE + b"\r\n")
    with pytest.raises(SipParseError, match="within the message size"):
        StreamFramer().feed(b"x" * (MAX_MESSAGE_BYTES + 1))


def test_headers_expand_compact_names_and_refuse_injection() -> None:
    headers = Headers([("X-A", "1"), ("b", "2"), ("x-a", "3")])
    assert list(headers) == [("X-A", "1"), ("Referred-By", "2"), ("x-a", "3")]
    assert headers.get_all("X-a") == ["1", "3"]
    headers.remove("referred-by")
    assert len(headers) == 2 and headers.get("b") is None
    with pytest.raises(SipParseError, match="line break"):
        headers.add("X-Evil", "1\r\nVia: injected")
    with pytest.raises(SipParseError, match="header name"):
        headers.add("Bad Name", "x")


def test_response_to_copies_the_transaction_headers_and_tags_to_once() -> None:
    request = parse(INVITE)
    assert isinstance(request, Request)
    response = response_to(request, 180, "Ringing", to_tag="t1", headers=[("Contact", "<sip:x@h>")])
    assert response.headers.get_all("Via") == request.headers.get_all("Via")
    assert response.to.tag == "t1" and response.cseq == request.cseq
    assert response.header("Contact") == "<sip:x@h>"
    tagged = parse(response.encode())
    assert isinstance(tagged, Response)
    request.headers.remove("To")
    request.headers.add("To", "<sip:+15550100@10.88.0.1>;tag=theirs")
    assert response_to(request, 200, "OK", to_tag="t1").to.tag == "theirs"
