from __future__ import annotations

import hashlib

import pytest

from lab.sipcaller.digest import Challenge, Credentials, authorization, digest_response
from lab.sipcaller.errors import DigestError, SipParseError

MUFASA = Credentials("Mufasa", "Circle of Life")


def test_rfc_2617_section_3_5_example() -> None:
    challenge = Challenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                          qop=("auth",), opaque="5ccc069c403ebaf9f0171e9517f40e41")  # fmt: skip
    response, qop = digest_response(
        challenge, Credentials("Mufasa", "Circle Of Life"),
        method="GET", uri="/dir/index.html", cnonce="0a4f113b",
    )  # fmt: skip
    assert (response, qop) == ("6629fae49393a05397450978507c4ef1", "auth")


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_section_3_9_1_examples(algorithm: str, expected: str) -> None:
    challenge = Challenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm},'
        ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",'
        ' opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    response, qop = digest_response(
        challenge, MUFASA, method="GET", uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )  # fmt: skip
    assert (response, qop) == (expected, "auth")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_no_qop_is_rfc_2069_as_livekit_sip_challenges() -> None:
    challenge = Challenge.parse('Digest realm="lk", nonce="n0nce", algorithm=MD5')
    response, qop = digest_response(challenge, MUFASA, method="INVITE", uri="sip:x@h", cnonce="c")
    ha1, ha2 = md5("Mufasa:lk:Circle of Life"), md5("INVITE:sip:x@h")
    assert (response, qop) == (md5(f"{ha1}:n0nce:{ha2}"), None)


def test_md5_sess_hashes_nonce_and_cnonce_into_ha1() -> None:
    challenge = Challenge(realm="r", nonce="n", algorithm="MD5-SESS", qop=("auth",))
    response, _ = digest_response(
        challenge, MUFASA, method="INVITE", uri="sip:x@h", cnonce="c", nc=2
    )
    ha1 = md5(f"{md5('Mufasa:r:Circle of Life')}:n:c")
    assert response == md5(f"{ha1}:n:00000002:c:auth:{md5('INVITE:sip:x@h')}")


def test_authorization_header_value() -> None:
    challenge = Challenge(realm='a "q" realm', nonce="n", qop=("auth",), opaque="o")
    value = authorization(challenge, MUFASA, method="INVITE", uri="sip:x@h", cnonce="c0")
    response, _ = digest_response(challenge, MUFASA, method="INVITE", uri="sip:x@h", cnonce="c0")
    assert value == (
        'Digest username="Mufasa", realm="a \\"q\\" realm", nonce="n", uri="sip:x@h", '
        f'response="{response}", algorithm=MD5, cnonce="c0", qop=auth, nc=00000001, opaque="o"'
    )
    assert Challenge.parse(value.replace("username", "x-user", 1)).realm == 'a "q" realm'
    plain = authorization(
        Challenge(realm="r", nonce="n"), MUFASA, method="BYE", uri="u", cnonce="c"
    )
    assert "qop" not in plain and "cnonce" not in plain and "opaque" not in plain


def test_challenge_parsing_is_liberal_in_spacing_and_case() -> None:
    challenge = Challenge.parse(
        'digest  REALM = "r,1" ,nonce="n",  stale=TRUE, qop="auth-int,auth", algorithm=md5'
    )
    assert challenge == Challenge(realm="r,1", nonce="n", algorithm="MD5",
                                  qop=("auth-int", "auth"), stale=True)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('Basic realm="r"', DigestError),
        ('Digest nonce="n"', SipParseError),
        ('Digest realm="r"', SipParseError),
        ('Digest realm="r", nonce', SipParseError),
        ('Digest realm="r, nonce="n"', SipParseError),
    ],
)
def test_bad_challenges(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Challenge.parse(text)


@pytest.mark.parametrize(
    ("challenge", "error"),
    [
        (Challenge(realm="r", nonce="n", algorithm="SHA-512-256"), "algorithm SHA-512-256"),
        (Challenge(realm="r", nonce="n", qop=("auth-int",)), "qop auth-int"),
    ],
)
def test_challenges_it_cannot_answer_say_so(challenge: Challenge, error: str) -> None:
    with pytest.raises(DigestError, match=error):
        digest_response(challenge, MUFASA, method="INVITE", uri="sip:x@h", cnonce="c")
