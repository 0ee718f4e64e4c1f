"""Client transactions on virtual time: exact retransmission schedules, timeouts, ACKs."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from lab.sipcaller.errors import SipTimeout
from lab.sipcaller.message import Headers, Request, Response, parse, response_to
from lab.sipcaller.transaction import ClientTransaction, State, Timers
from tests.waiting import eventually

from .virtual_clock import SteppingClock

DEST = ("10.88.0.1", 5060)


def request(method: str) -> Request:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bKabc;rport"),
            ("Route", "<sip:proxy@10.88.0.1;lr>"),
            ("Max-Forwards", "70"),
            ("From", "<sip:+15550199@10.88.0.2>;tag=me"),
            ("To", "<sip:+15550100@10.88.0.1>"),
            ("Call-ID", "call-1"),
            ("CSeq", f"1 {method}"),
        ]
    )
    return Request(headers=headers, method=method, uri="sip:+15550100@10.88.0.1:5060")


class Wire:
    def __init__(self, clock: SteppingClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []
        self.hook: Callable[[int], None] = lambda _n: None

    async def send(self, data: bytes, dest: tuple[str, int]) -> None:
        assert dest == DEST
        self.sent.append((self.clock.now(), data))
        self.hook(len(self.sent))

    def times(self, method: str) -> list[float]:
        return [round(t, 6) for t, data in self.sent if data.startswith(method.encode() + b" ")]


def transaction(
    method: str, *, reliable: bool = False
) -> tuple[ClientTransaction, Wire, list[ClientTransaction]]:
    clock = SteppingClock(start=0.0)
    wire = Wire(clock)
    ended: list[ClientTransaction] = []
    txn = ClientTransaction(request(method), DEST, wire.send, reliable=reliable, clock=clock,
                            timers=Timers(), on_terminated=ended.append)  # fmt: skip
    return txn, wire, ended


def reply(txn: ClientTransaction, status: int, reason: str) -> Response:
    return response_to(txn.request, status, reason, to_tag="far")


def test_timer_values() -> None:
    timers = Timers()
    assert list(itertools.islice(timers.retransmissions(True), 8)) == [0.5, 1, 2, 4, 8, 16, 32, 64]
    assert list(itertools.islice(timers.retransmissions(False), 6)) == [0.5, 1, 2, 4, 4, 4]
    assert timers.timeout == 32 and Timers(t1=0.01).timeout == pytest.approx(0.64)


async def test_invite_unanswered_is_resent_on_timer_a_and_given_up_on_timer_b() -> None:
    txn, wire, ended = transaction("INVITE")
    await txn.start()
    with pytest.raises(SipTimeout, match=r"no response to INVITE .* within 32 s"):
        await txn.response()
    assert wire.times("INVITE") == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert len({data for _, data in wire.sent}) == 1  # byte-identical retransmissions
    with pytest.raises(SipTimeout):
        await txn.final()  # and it stays timed out
    await eventually(lambda: ended == [txn])


async def test_a_provisional_stops_retransmission_and_a_failure_is_acked_in_the_transaction() -> (
    None
):
    txn, wire, ended = transaction("INVITE")
    wire.hook = lambda n: txn.receive(reply(txn, 180, "Ringing")) if n == 2 else None
    await txn.start()
    assert (await txn.response()).status == 180
    assert txn.state is State.PROCEEDING
    busy = reply(txn, 486, "Busy Here")
    txn.receive(busy)
    assert (await txn.response()).status == 486
    await eventually(lambda: len(wire.sent) == 3)
    assert wire.times("INVITE") == [0, 0.5]  # nothing after the 180, and no Timer B either
    ack = parse(wire.sent[2][1])
    assert isinstance(ack, Request)
    assert (ack.method, ack.uri) == ("ACK", txn.request.uri)
    assert ack.headers.get_all("Via") == ["SIP/2.0/UDP 10.88.0.2:5062;branch=z9hG4bKabc;rport"]
    assert ack.headers.get_all("Route") == ["<sip:proxy@10.88.0.1;lr>"]
    assert ack.header("To") == busy.header("To") and ack.to.tag == "far"
    assert ack.header("From") == txn.request.header("From") and ack.call_id == "call-1"
    assert ack.header("CSeq") == "1 ACK" and ack.header("Max-Forwards") == "70"
    txn.receive(busy)  # the 486 again: our ACK was lost
    await eventually(lambda: len(wire.sent) == 4)
    assert wire.sent[3][1] == wire.sent[2][1]
    await eventually(lambda: ended == [txn])


async def test_a_2xx_ends_the_invite_transaction_without_an_ack() -> None:
    txn, wire, ended = transaction("INVITE")
    await txn.start()
    txn.receive(reply(txn, 100, "Trying"))
    txn.receive(reply(txn, 200, "OK"))
    assert (await txn.final()).status == 200
    await eventually(lambda: ended == [txn])
    assert wire.times("INVITE") == [0] and len(wire.sent) == 1  # the 2xx ACK is the dialog's


async def test_other_requests_back_off_to_t2_on_timer_e_until_timer_f() -> None:
    txn, wire, _ = transaction("BYE")
    await txn.start()
    with pytest.raises(SipTimeout, match="no response to BYE"):
        await txn.final()
    assert wire.times("BYE") == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


async def test_after_a_provisional_other_requests_are_resent_every_t2() -> None:
    txn, wire, _ = transaction("NOTIFY")
    wire.hook = lambda n: txn.receive(reply(txn, 100, "Trying")) if n == 1 else None
    await txn.start()
    with pytest.raises(SipTimeout):
        await txn.final()
    assert wire.times("NOTIFY") == [0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]


async def test_over_tcp_nothing_is_resent_but_the_timeout_holds() -> None:
    txn, wire, _ = transaction("INVITE", reliable=True)
    await txn.start()
    with pytest.raises(SipTimeout):
        await txn.response()
    assert wire.times("INVITE") == [0] and wire.clock.now() == 32
