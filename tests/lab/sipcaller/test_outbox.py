from __future__ import annotations

import asyncio

import pytest

from lab.sipcaller.dtmf import event_ticks
from lab.sipcaller.errors import CallStateError
from lab.sipcaller.outbox import SILENCE, Outbox, SendReport, Step

FIRST_TS = 2**32 - 320  # wraps after two ticks


def outbox(event_pt: int | None = 101) -> Outbox:
    return Outbox(ssrc=7, first_sequence=65534, first_timestamp=FIRST_TS, audio_pt=0,
                  event_pt=event_pt)  # fmt: skip


def frame(value: int) -> bytes:
    return bytes([value]) * 160


async def test_silence_when_nothing_is_queued_one_packet_per_tick() -> None:
    box = outbox()
    packets = [box.tick(n, 10 + 0.02 * n) for n in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [2**32 - 320, 2**32 - 160, 0, 160]
    assert [p.marker for p in packets] == [True, False, False, False]
    assert {p.payload for p in packets} == {SILENCE} and {p.ssrc for p in packets} == {7}
    assert box.packets_sent == 4


async def test_jobs_go_out_in_order_and_report_when() -> None:
    box = outbox()
    speech = box.queue([frame(1), frame(2)])
    steps: list[Step] = [*event_ticks("5", 2, 160), frame(0xFF)]
    keys = box.queue(steps)
    more = box.queue([frame(3)])
    packets = [box.tick(n, 100.0 + n) for n in range(9)]
    assert [(p.payload_type, p.payload[:1].hex(), p.marker) for p in packets] == [
        (0, "01", True),
        (0, "02", False),
        (101, "05", True),
        (101, "05", False),
        (101, "05", False),
        (101, "05", False),
        (0, "ff", False),
        (0, "03", False),
        (0, "ff", False),
    ]
    # the key press holds the timestamp of its first tick; audio keeps the tick's own
    assert [p.timestamp for p in packets[2:6]] == [(FIRST_TS + 320) % 2**32] * 4
    assert packets[6].timestamp == (FIRST_TS + 6 * 160) % 2**32
    assert [(p.sequence - 65534) % 65536 for p in packets] == list(range(9))
    assert speech.result() == SendReport(100.0, 101.0, FIRST_TS, 2)
    assert keys.result() == SendReport(102.0, 106.0, (FIRST_TS + 320) % 2**32, 5)
    assert more.result() == SendReport(107.0, 107.0, (FIRST_TS + 7 * 160) % 2**32, 1)


async def test_a_later_event_gets_its_own_timestamp() -> None:
    box = outbox()
    box.queue(event_ticks("1", 1, 160))
    box.queue(event_ticks("2", 1, 160))
    packets = [box.tick(n, 0.0) for n in range(6)]
    assert [(p.timestamp - FIRST_TS) % 2**32 for p in packets] == [0, 0, 0, 480, 480, 480]
    assert [p.marker for p in packets] == [True, False, False, True, False, False]


async def test_bad_jobs_are_refused() -> None:
    with pytest.raises(CallStateError, match="telephone-event"):
        outbox(event_pt=None).queue(event_ticks("1", 1, 160))
    with pytest.raises(ValueError, match="160"):
        outbox().queue([b"\xff" * 80])
    with pytest.raises(ValueError, match="nothing"):
        outbox().queue([])


async def test_closing_fails_what_was_not_sent() -> None:
    box = outbox()
    pending = box.queue([frame(1), frame(2)])
    box.tick(0, 0.0)
    box.close("the far end hung up")
    with pytest.raises(CallStateError, match="not sent: the far end hung up"):
        await asyncio.wait_for(pending, 1)
    with pytest.raises(CallStateError, match="stopped"):
        box.queue([frame(1)])
