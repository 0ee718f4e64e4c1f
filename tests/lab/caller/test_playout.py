"""The caller's model of Twilio's playback buffer: order, marks, clear, underruns."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lab.caller.playout import SILENT_FRAME, Playout


def test_marks_echo_only_after_their_audio_played() -> None:
    p = Playout()
    p.add_media(b"\x01" * 160)
    p.add_media(b"\x02" * 100)
    p.add_mark("a")
    p.add_media(b"\x03" * 200)
    p.add_mark("b")
    t1 = p.tick()
    assert t1.audio == b"\x01" * 160 and t1.marks == [] and t1.played_bytes == 160
    t2 = p.tick()
    assert t2.audio == b"\x02" * 100 + b"\x03" * 60 and t2.marks == []  # "a" still playing
    t3 = p.tick()
    assert t3.audio == b"\x03" * 140 + SILENT_FRAME[:20] and t3.played_bytes == 140
    assert t3.marks == ["a"]
    t4 = p.tick()
    assert t4.played_bytes == 0 and t4.marks == ["b"]


def test_mark_on_empty_buffer_echoes_next_tick() -> None:
    p = Playout()
    p.add_mark("m")
    assert p.tick().marks == ["m"]


def test_clear_drops_audio_and_returns_pending_marks() -> None:
    p = Playout()
    p.add_media(b"\x01" * 800)
    p.add_mark("x")
    p.add_media(b"\x01" * 160)
    p.add_mark("y")
    p.tick()
    p.tick()
    p.tick()
    p.tick()
    p.tick()  # 800 bytes played, "x" reached during this tick: not yet echoed
    assert p.clear() == ["x", "y"]
    assert p.buffered_bytes == 0 and p.tick().audio == SILENT_FRAME


@given(st.lists(st.binary(min_size=1, max_size=500), max_size=20))
def test_everything_sent_is_heard_in_order(chunks: list[bytes]) -> None:
    p = Playout()
    for c in chunks:
        p.add_media(c)
    total = b"".join(chunks)
    heard = b""
    while p.buffered_bytes:
        t = p.tick()
        heard += t.audio[: t.played_bytes]
    assert heard == total
