"""What the SIP caller heard: replies laid out by RTP timestamp, and the phone-buffer model."""

from __future__ import annotations

import numpy as np
import pytest

from lab.sip_runner import PLAYOUT_BUFFER_S, cut, late_runs, missed_playout
from lab.sipcaller import Heard, ReceivedPacket
from sip import g711

T0 = 1000.0


def packet(n: int, arrival: float, level: int = 4000) -> ReceivedPacket:
    payload = g711.encode(np.full(160, level, dtype=np.int16))
    return ReceivedPacket(arrival, 0x1234, n, 160 * n, n == 0, payload)


def heard(arrivals: list[float]) -> Heard:
    return Heard(tuple(packet(n, a) for n, a in enumerate(arrivals)), (), 0, 0)


def test_a_reply_is_cut_by_arrival_and_laid_out_by_timestamp() -> None:
    steady = heard([T0 + 0.02 * n for n in range(50)])
    audio = cut(steady, T0 + 0.2, T0 + 0.4)
    assert len(audio) == 11 * 160 and np.all(audio != 0)
    assert len(cut(steady, T0 + 5, T0 + 6)) == 0


def test_packets_that_miss_the_modelled_phone_buffer_count_once_per_run() -> None:
    steady = [T0 + 0.02 * n for n in range(50)]
    assert late_runs(heard(steady), T0, T0 + 1) == 0
    # a stall longer than the buffer: packets 10.. arrive 100 ms late, then catch up at 30
    stalled = steady[:10] + [t + 0.1 for t in steady[10:30]] + steady[30:]
    assert late_runs(heard(stalled), T0, T0 + 1.2) == 1
    # within the buffer: no underrun
    jittery = steady[:10] + [t + PLAYOUT_BUFFER_S / 2 for t in steady[10:]]
    assert late_runs(heard(jittery), T0, T0 + 2) == 0


@pytest.mark.parametrize("first", [T0 + 10.0])
def test_no_packet_in_the_reply_is_no_underrun(first: float) -> None:
    assert late_runs(heard([T0]), first, first + 1) == 0


def test_missed_playout_counts_the_audio_of_the_late_packets() -> None:
    steady = [T0 + 0.02 * n for n in range(50)]
    # packets 10..29 arrive 100 ms late: one run, 20 packets of 20 ms each missed the buffer
    stalled = steady[:10] + [t + 0.1 for t in steady[10:30]] + steady[30:]
    assert missed_playout(heard(stalled), T0, T0 + 1.2) == (1, 400.0)
    assert missed_playout(heard(steady), T0, T0 + 1) == (0, 0.0)
