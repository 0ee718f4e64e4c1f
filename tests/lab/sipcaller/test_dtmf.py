from __future__ import annotations

import pytest

from lab.sipcaller.dtmf import EventPayload, EventReceiver, event_code, event_ticks
from lab.sipcaller.errors import SipParseError


def test_a_100_ms_key_press_is_five_updates_then_three_end_packets() -> None:
    packets = event_ticks("5", 5, 160)
    assert [p.payload.encode().hex() for p in packets] == [
        "050a00a0",  # event 5, volume 10 (-10 dBm0), 160 samples
        "050a0140",
        "050a01e0",
        "050a0280",
        "058a0320",  # E bit; 800 samples = 100 ms
        "058a0320",
        "058a0320",
    ]
    assert [p.marker for p in packets] == [True] + [False] * 6


def test_a_one_tick_press_marks_only_its_first_end_packet() -> None:
    packets = event_ticks("#", 1, 160, volume=0)
    assert [(p.payload.encode().hex(), p.marker) for p in packets] == [
        ("0b8000a0", True),
        ("0b8000a0", False),
        ("0b8000a0", False),
    ]


@pytest.mark.parametrize(("digit", "code"), [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("d", 15)])
def test_event_codes(digit: str, code: int) -> None:
    assert event_code(digit) == code


@pytest.mark.parametrize("digit", ["x", "", "55", "E"])
def test_non_digits_are_refused(digit: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        event_code(digit)
    with pytest.raises(ValueError, match="at least one"):
        event_ticks("1", 0, 160)


def test_payload_round_trip_and_bounds() -> None:
    payload = EventPayload(event=16, end=True, volume=63, duration=65535)
    assert EventPayload.decode(payload.encode()) == payload and payload.digit is None
    with pytest.raises(SipParseError, match="needs 4"):
        EventPayload.decode(b"\x01\x02")
    with pytest.raises(ValueError, match="16 bits"):
        EventPayload(1, False, 10, 65536).encode()
    with pytest.raises(ValueError, match="out of range"):
        EventPayload(1, False, 64, 0).encode()


def test_receiver_counts_each_press_once_whatever_is_repeated() -> None:
    receiver = EventReceiver()
    for i, packet in enumerate(event_ticks("7", 3, 160)):
        receiver.feed(1, 8000, packet.marker, packet.payload.encode(), arrival=10 + i * 0.02)
    late = event_ticks("7", 3, 160)[-1]
    receiver.feed(1, 8000, False, late.payload.encode(), arrival=11.0)  # a retransmission
    for packet in event_ticks("*", 3, 160)[:2]:  # the next press never ends
        receiver.feed(1, 9600, packet.marker, packet.payload.encode(), arrival=12.0)
    first, second = receiver.digits
    assert (first.digit, first.timestamp, first.duration, first.marker) == ("7", 8000, 480, True)
    assert first.started == 10.0 and first.ended == pytest.approx(10.04)
    assert (second.digit, second.ended, second.duration) == ("*", None, 320)
