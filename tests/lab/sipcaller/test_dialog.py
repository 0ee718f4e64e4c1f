from __future__ import annotations

import pytest

from lab.sipcaller.dialog import Dialog
from lab.sipcaller.errors import SipParseError
from lab.sipcaller.message import Headers, Request, Response

INVITE = Request(
    headers=Headers(
        [
            ("Via", "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bK1"),
            ("From", "<sip:+15550199@10.88.0.2>;tag=mine"),
            ("To", "<sip:+15550100@10.88.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "2 INVITE"),
            ("Proxy-Authorization", 'Digest username="u"'),
        ]
    ),
    method="INVITE",
    uri="sip:+15550100@10.88.0.1",
)


def answer(*extra: tuple[str, str]) -> Response:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bK1"),
            ("Record-Route", "<sip:p1@10.0.0.1;lr>, <sip:p2@10.0.0.2;lr>"),
            ("Record-Route", "<sip:p3@10.0.0.3;lr;transport=udp>"),
            ("From", "<sip:+15550199@10.88.0.2>;tag=mine"),
            ("To", "<sip:+15550100@10.88.0.1>;tag=theirs"),
            ("Call-ID", "c1"),
            ("CSeq", "2 INVITE"),
            ("Contact", "<sip:lk@10.88.0.1:5060;transport=udp>"),
            *extra,
        ]
    )
    return Response(headers=headers, status=200, reason="OK")


def test_dialog_from_the_2xx_reverses_the_record_route() -> None:
    dialog = Dialog.from_answer(INVITE, answer())
    assert [str(r) for r in dialog.route_set] == [
        "<sip:p3@10.0.0.3;lr;transport=udp>",
        "<sip:p2@10.0.0.2;lr>",
        "<sip:p1@10.0.0.1;lr>",
    ]
    assert str(dialog.remote_target) == "sip:lk@10.88.0.1:5060;transport=udp"
    assert dialog.next_hop.host == "10.0.0.3"
    assert (dialog.local.tag, dialog.remote.tag, dialog.local_cseq) == ("mine", "theirs", 2)


def test_requests_in_the_dialog() -> None:
    dialog = Dialog.from_answer(INVITE, answer())
    bye = dialog.request(
        "BYE", "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bK2", headers=[("X-Trace", "y")]
    )
    assert bye.uri == "sip:lk@10.88.0.1:5060;transport=udp"
    assert list(bye.headers) == [
        ("Via", "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bK2"),
        ("Route", "<sip:p3@10.0.0.3;lr;transport=udp>"),
        ("Route", "<sip:p2@10.0.0.2;lr>"),
        ("Route", "<sip:p1@10.0.0.1;lr>"),
        ("Max-Forwards", "70"),
        ("From", "<sip:+15550199@10.88.0.2>;tag=mine"),
        ("To", "<sip:+15550100@10.88.0.1>;tag=theirs"),
        ("Call-ID", "c1"),
        ("CSeq", "3 BYE"),
        ("X-Trace", "y"),
    ]
    assert dialog.request("NOTIFY", "v").header("CSeq") == "4 NOTIFY"


def test_the_ack_for_the_2xx_reuses_the_invite_cseq_and_its_credentials() -> None:
    dialog = Dialog.from_answer(INVITE, answer())
    ack = dialog.ack(INVITE, "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bK9")
    assert ack.header("CSeq") == "2 ACK" and dialog.local_cseq == 2
    assert ack.header("Proxy-Authorization") == 'Digest username="u"'
    assert ack.branch == "z9hG4bK9"


def request_from_far_end(call_id: str, from_tag: str, to_tag: str) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.88.0.1:5060;branch=z9hG4bKx"),
            ("From", f"<sip:+15550100@10.88.0.1>;tag={from_tag}"),
            ("To", f"<sip:+15550199@10.88.0.2>;tag={to_tag}"),
            ("Call-ID", call_id),
            ("CSeq", "1 BYE"),
        ]
    )
    return Request(headers=headers, method="BYE", uri="sip:+15550199@10.88.0.2:5062")


def test_which_requests_belong_to_the_dialog_and_in_what_order() -> None:
    dialog = Dialog.from_answer(INVITE, answer())
    assert dialog.owns(request_from_far_end("c1", "theirs", "mine"))
    assert not dialog.owns(request_from_far_end("c2", "theirs", "mine"))
    assert not dialog.owns(request_from_far_end("c1", "other", "mine"))
    assert not dialog.owns(request_from_far_end("c1", "theirs", "other"))
    assert dialog.accept_cseq(5) and not dialog.accept_cseq(5) and dialog.accept_cseq(6)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("To", "<sip:+15550100@10.88.0.1>"), "no To tag"),
        (("Contact", None), "no Contact"),
        (("Record-Route", "<sip:strict@10.0.0.9>"), "strict routing"),
    ],
)
def test_answers_that_make_no_dialog(change: tuple[str, str | None], error: str) -> None:
    response = answer()
    name, value = change
    response.headers.remove(name)
    if value is not None:
        response.headers.add(name, value)
    with pytest.raises(SipParseError, match=error):
        Dialog.from_answer(INVITE, response)
