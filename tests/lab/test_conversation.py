"""The caller's conversation on a line, against a scripted far end with stamped arrivals.

The far end answers each utterance with a reply whose chunks carry the arrival stamps it
planned, and hands each over once its time has come (however late the caller looks): every
measured figure must come from those stamps, whatever the polling loop happened to see, so
the expectations are exact.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from lab.conversation import (
    AUDIBLE_PEAK,
    CallerScript,
    caller_records,
    converse,
    heard_replies,
)
from lab.pcm import Int16Array

pytestmark = pytest.mark.virtual_time

RATE = 8000
CHUNK = 160  # 20 ms


def tone(chunks: int, level: int = 3000) -> list[Int16Array]:
    return [np.full(CHUNK, level, dtype=np.int16) for _ in range(chunks)]


def quiet(chunks: int) -> list[Int16Array]:
    return [np.zeros(CHUNK, dtype=np.int16) for _ in range(chunks)]


class ScriptedLine:
    """Replies ``latency`` after each utterance: silence, then ``reply`` chunks of audio.

    An utterance takes no time: the speech "ends" when ``say`` is called.
    """

    rate = RATE

    def __init__(self, latency: float, reply: int, greeting: int = 10) -> None:
        self.latency = latency
        self.reply = reply
        self.pending = self._reply_at(time.monotonic(), greeting)
        self.said: list[int] = []
        self.ended = False

    def _reply_at(self, start: float, chunks: int) -> list[tuple[float, Int16Array]]:
        audio = quiet(5) + tone(chunks) + quiet(5)
        return [(start + i * 0.02, pcm) for i, pcm in enumerate(audio)]

    def take_arrivals(self) -> list[tuple[float, Int16Array]]:
        now = time.monotonic()
        due = [a for a in self.pending if a[0] <= now]
        self.pending = self.pending[len(due) :]
        return due

    async def say(self, pcm: Int16Array, rate: int) -> float:
        self.said.append(len(pcm))
        end = time.monotonic()
        # the reply's first audible chunk arrives `latency` after the speech ended
        self.pending = self._reply_at(end + self.latency - 0.1, self.reply)
        return end

    async def playout_counters(self) -> dict[str, float]:
        return {"concealment_events": float(len(self.said))}


def script(turns: int, barge: frozenset[int] = frozenset()) -> CallerScript:
    return CallerScript(
        clips=[np.ones(800, np.int16), np.ones(400, np.int16)],
        clip_rate=RATE,
        turns=turns,
        barge_in_turns=barge,
        quiet_ms=100,
        linger_s=0.0,
    )


async def test_every_turn_s_latency_and_reply_span_come_from_the_arrival_stamps() -> None:
    line = ScriptedLine(latency=0.3, reply=25)
    conv = await converse(line, script(turns=2))
    assert conv.problem is None
    assert [t.turn for t in conv.turns] == [0, 1, 2]
    assert line.said == [800, 400]  # the clips in turn
    for t in conv.turns[1:]:
        assert t.latency_s == pytest.approx(0.3)
        assert t.reply.first is not None and t.reply.last is not None
        assert t.reply.last - t.reply.first == pytest.approx(24 * 0.02)
    records = caller_records(conv, "call-1", "sip")
    assert [r.turn for r in records] == [1, 2]
    assert all(r.latency_s == pytest.approx(0.3) and r.source == "caller" for r in records)
    assert records[0].caller_first_audio == pytest.approx(conv.epoch(conv.turns[1].reply.first))


async def test_barge_in_talks_over_the_reply_after_a_second_of_it() -> None:
    line = ScriptedLine(latency=0.3, reply=100)  # a 2 s reply
    conv = await converse(line, replace_barge(script(turns=3, barge=frozenset({2}))))
    barged = conv.turns[2]
    assert barged.barge_start is not None and conv.turns[1].barge_start is None
    assert barged.reply.first is not None
    # the caller spoke up once a second of the reply had arrived
    assert barged.barge_start - barged.reply.first >= 1.0 - 0.02
    # the utterance took no time, so the reply's last audio before it is the cut-off
    assert barged.cutoff_ms is not None and barged.cutoff_ms >= 0
    assert [t.turn for t in conv.turns] == [0, 1, 2, 3]
    replies = heard_replies(conv, "c", RATE, lambda a, b: np.ones(10, np.int16))
    assert [r.interrupted for r in replies] == [False, False, True, False]


def replace_barge(s: CallerScript) -> CallerScript:
    from dataclasses import replace

    return replace(s, barge_after_ms=1000)


async def test_heard_replies_carry_arrivals_and_the_receiver_s_counters() -> None:
    line = ScriptedLine(latency=0.3, reply=20)
    conv = await converse(line, script(turns=1))
    spans: list[tuple[float, float]] = []

    def cut(first: float, last: float) -> Int16Array:
        spans.append((first, last))
        return np.ones(5, np.int16)

    greeting, reply = heard_replies(
        conv,
        "c",
        RATE,
        cut,
        underruns=lambda t: int(
            t.counters_after["concealment_events"] - t.counters_before.get("concealment_events", 0)
        ),
    )
    assert len(reply.arrivals) == 20  # first to last audible chunk, each 20 ms of audio
    assert all(seconds == pytest.approx(0.02) for _, seconds in reply.arrivals)
    assert spans[1] == (conv.turns[1].reply.first, conv.turns[1].reply.last)
    # the counters moved by one utterance between speech end and the reply's end
    assert reply.receiver_gaps == 0 and greeting.turn == 0


async def test_no_reply_is_a_problem_not_a_hang() -> None:
    class Silent(ScriptedLine):
        async def say(self, pcm: Int16Array, rate: int) -> float:
            return time.monotonic()

    conv = await asyncio.wait_for(
        converse(Silent(0.5, 10), replace_timeout(script(turns=2))), timeout=30
    )
    assert conv.problem == "no reply to turn 1 within 0 s"
    assert len(conv.turns) == 2


def replace_timeout(s: CallerScript) -> CallerScript:
    from dataclasses import replace

    return replace(s, reply_timeout_s=0.2)


def test_quiet_chunks_are_not_agent_audio() -> None:
    from lab.conversation import audible

    assert not audible(np.full(10, AUDIBLE_PEAK - 1, np.int16))
    assert audible(np.array([0, -AUDIBLE_PEAK], np.int16))
    assert not audible(np.zeros(0, np.int16))
