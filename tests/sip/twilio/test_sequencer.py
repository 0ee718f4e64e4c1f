"""Stream ordering rules: start first, one start, sequence numbers, timestamp gaps."""

from __future__ import annotations

import pytest

from sip.twilio import protocol as p
from sip.twilio.sequencer import MAX_ERRORS, StreamSequencer

START = p.Start(1, "MZ1", "AC1", "CA1", ("inbound",), {})


def media(seq: int, ts: int, n: int = 160, sid: str = "MZ1") -> p.Media:
    return p.Media(seq, sid, "inbound", seq, ts, b"\xff" * n)


def test_media_before_start_is_dropped() -> None:
    s = StreamSequencer()
    with pytest.raises(p.ProtocolError, match="before 'start'"):
        s.accept(media(2, 0))
    assert s.stats.dropped == 1


def test_duplicate_start_and_foreign_stream_are_dropped() -> None:
    s = StreamSequencer()
    s.accept(p.Connected("Call", "1"))
    s.accept(START)
    with pytest.raises(p.ProtocolError, match="duplicate"):
        s.accept(START)
    with pytest.raises(p.ProtocolError, match="streamSid"):
        s.accept(media(2, 0, sid="MZ2"))
    assert s.accept(media(2, 0)) == 0


def test_sequence_gap_counted_and_replay_dropped() -> None:
    s = StreamSequencer()
    s.accept(START)
    s.accept(media(2, 0))
    s.accept(media(5, 60))
    assert (s.stats.sequence_gaps, s.stats.missing_messages) == (1, 2)
    with pytest.raises(p.ProtocolError, match="not after"):
        s.accept(media(4, 40))


def test_timestamp_gap_is_filled_with_silence() -> None:
    s = StreamSequencer()
    s.accept(START)
    assert s.accept(media(2, 0)) == 0
    assert s.accept(media(3, 20)) == 0
    assert s.accept(media(4, 100)) == 60 * 8  # 40..100 ms missing
    assert s.stats.filled_ms == 60
    assert s.accept(media(5, 120)) == 0
    assert s.accept(media(6, 150_000)) == 0  # absurd jump: logged by caller, not filled


def test_after_stop_everything_is_dropped() -> None:
    s = StreamSequencer()
    s.accept(START)
    s.accept(p.Stop(2, "MZ1", "AC1", "CA1"))
    with pytest.raises(p.ProtocolError, match="after stop"):
        s.accept(media(3, 0))


def test_persistent_misbehaviour_becomes_fatal() -> None:
    s = StreamSequencer()
    for _ in range(MAX_ERRORS):
        with pytest.raises(p.ProtocolError) as exc:
            s.accept(media(2, 0))
        assert not exc.value.fatal
    with pytest.raises(p.ProtocolError) as exc:
        s.accept(media(2, 0))
    assert exc.value.fatal
