from __future__ import annotations

import numpy as np

from lab.sipcaller.recording import Recording
from lab.sipcaller.rtp import RtpPacket
from sip import g711


def ulaw(value: int) -> bytes:
    return g711.encode(np.full(160, value, dtype=np.int16))


def audio(seq: int, ts: int, value: int, ssrc: int = 1) -> RtpPacket:
    return RtpPacket(0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, ulaw(value))


def levels(pcm: np.ndarray) -> list[int]:
    return [int(round(float(np.mean(pcm[i : i + 160])), -3)) for i in range(0, len(pcm), 160)]


def test_audio_is_laid_out_by_timestamp_with_silence_for_what_is_missing() -> None:
    recording = Recording(audio_pt=0, event_pt=101)
    # packet 3 lost, 5 arrives before 4, and 2 arrives twice
    for seq, arrival in [(1, 0.0), (2, 0.02), (2, 0.021), (5, 0.08), (4, 0.081)]:
        recording.add(audio(seq, 160 * seq, 1000 * seq), arrival)
    heard = recording.heard()
    assert levels(heard.pcm()) == [1000, 2000, 0, 4000, 5000]
    assert heard.duplicates == 1 and heard.first_arrival == 0.0
    assert heard.positions() == [0, 160, 160, 640, 480]


def test_sequence_and_timestamp_wrap_around() -> None:
    recording = Recording(audio_pt=0, event_pt=101)
    for i in range(4):
        recording.add(audio(65534 + i, 2**32 - 320 + 160 * i, 1000), 0.02 * i)
    heard = recording.heard()
    assert heard.positions() == [0, 160, 320, 480] and heard.duplicates == 0


def test_a_packet_older_than_the_first_shifts_the_timeline() -> None:
    recording = Recording(audio_pt=0, event_pt=101)
    recording.add(audio(2, 320, 2000), 0.0)
    recording.add(audio(1, 160, 1000), 0.001)
    assert levels(recording.heard().pcm()) == [1000, 2000]


def test_a_new_ssrc_starts_where_it_arrived() -> None:
    recording = Recording(audio_pt=0, event_pt=101)
    recording.add(audio(1, 160, 1000), 0.0)
    recording.add(audio(900, 123456, 3000, ssrc=2), 0.04)  # 2 ticks later, any timestamp
    assert levels(recording.heard().pcm()) == [1000, 0, 3000]


def test_events_and_other_payload_types_are_kept_apart() -> None:
    recording = Recording(audio_pt=0, event_pt=101)
    recording.add(RtpPacket(101, 1, 800, 1, bytes([1, 0x8A, 0, 160]), marker=True), 1.0)
    recording.add(RtpPacket(13, 2, 800, 1, b"\x00"), 1.0)  # comfort noise: not decoded
    recording.ignore()
    heard = recording.heard()
    assert [d.digit for d in heard.digits] == ["1"] and heard.other_packets == 1
    assert heard.ignored == 1
    assert heard.packets == () and len(heard.pcm()) == 0 and heard.first_arrival is None
