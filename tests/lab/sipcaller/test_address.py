from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.sipcaller.address import NameAddr, SipUri, Via, param, parse_params, split_quoted
from lab.sipcaller.errors import SipParseError


def test_sip_uri_parts_and_round_trip() -> None:
    uri = SipUri.parse("sip:+15550100@10.88.0.1:5060;transport=tcp;lr")
    assert (uri.user, uri.host, uri.port) == ("+15550100", "10.88.0.1", 5060)
    assert uri.param("TRANSPORT") == "tcp" and uri.param("lr") == "" and uri.param("x") is None
    assert str(uri) == "sip:+15550100@10.88.0.1:5060;transport=tcp;lr"


def test_sip_uri_ipv6_password_and_headers() -> None:
    uri = SipUri.parse("SIPS:alice:pw@[2001:db8::1]:5071?subject=hi")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sips", "alice:pw", "2001:db8::1", 5071)
    assert uri.headers == "subject=hi"
    assert str(uri) == "sips:alice:pw@[2001:db8::1]:5071?subject=hi"


@pytest.mark.parametrize(
    "text",
    [
        "tel:+15550100",
        "sip:",
        "sip:@host",
        "sip:host:99999",
        "sip:host:0",
        "sip:host:5o60",
        "sip:[::1",
        "sip:[not-v6]",
        "sip:bad host",
        "sip:host;=x",
    ],
)
def test_bad_sip_uris_are_refused(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


def test_name_addr_forms() -> None:
    quoted = NameAddr.parse('"Alice \\"A\\", Esq" <sip:a@h>;tag=1')
    assert (quoted.display, quoted.uri, quoted.tag) == ('Alice "A", Esq', "sip:a@h", "1")
    token = NameAddr.parse("Bob Smith <sip:b@h;lr>;x=y")
    assert (token.display, token.uri, param(token.params, "x")) == ("Bob Smith", "sip:b@h;lr", "y")
    # addr-spec: what follows ';' is a header parameter, not part of the URI
    bare = NameAddr.parse("sip:c@h;tag=9")
    assert (bare.display, bare.uri, bare.tag) == (None, "sip:c@h", "9")
    assert str(bare) == "<sip:c@h>;tag=9"
    assert NameAddr.parse("<tel:+1555>").uri == "tel:+1555"


def test_name_addr_tags() -> None:
    addr = NameAddr.parse("<sip:a@h>;tag=old;x")
    assert str(addr.with_tag("new")) == "<sip:a@h>;x;tag=new"
    assert str(NameAddr("sip:a@h", 'say "hi"')) == '"say \\"hi\\"" <sip:a@h>'


@pytest.mark.parametrize(
    "text", ["<sip:a@h", '"open <sip:a@h>', "no uri here", "<>", "Bob <sip:a@h>;;"]
)
def test_bad_name_addrs_are_refused(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


def test_via() -> None:
    via = Via.parse("SIP / 2.0 / udp 10.0.0.1:5060 ;branch=z9hG4bK77;rport;received=1.2.3.4")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "10.0.0.1", 5060, "z9hG4bK77")
    assert param(via.params, "rport") == "" and param(via.params, "received") == "1.2.3.4"
    assert str(Via("TCP", "::1", 5070, (("branch", "z9hG4bKx"),))) == (
        "SIP/2.0/TCP [::1]:5070;branch=z9hG4bKx"
    )


@pytest.mark.parametrize("text", ["SIP/3.0/UDP h", "UDP h:5060", "SIP/2.0/UDP", "SIP/2.0/U(P h"])
def test_bad_vias_are_refused(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


def test_split_quoted_respects_quotes_escapes_and_brackets() -> None:
    text = '"a, \\"b" <sip:x@h;p=1,2>, <sip:y@h>'
    assert list(split_quoted(text, ",")) == ['"a, \\"b" <sip:x@h;p=1,2>', " <sip:y@h>"]
    with pytest.raises(SipParseError):
        list(split_quoted('"open, x', ","))
    assert parse_params(';a=1;flag; b = "x;y"') == (("a", "1"), ("flag", None), ("b", '"x;y"'))
    with pytest.raises(SipParseError, match="must start with"):
        parse_params("a=1")


users = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-_.", min_size=1, max_size=12)
hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z][a-z0-9]{0,6}){0,2}", fullmatch=True),
)
ports = st.one_of(st.none(), st.integers(1, 65535))


@given(users, hosts, ports)
def test_sip_uri_round_trips(user: str, host: str, port: int | None) -> None:
    uri = SipUri(host=host, user=user, port=port, params=(("transport", "udp"), ("lr", None)))
    assert SipUri.parse(str(uri)) == uri


@given(st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1)))
def test_name_addr_display_names_round_trip(display: str | None) -> None:
    addr = NameAddr("sip:a@example.com", display, (("tag", "abc"),))
    assert NameAddr.parse(str(addr)) == addr
