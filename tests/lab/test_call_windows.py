"""Joining the agent's turn lines and the simulator's recordings to the calls placed."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from lab.call_windows import CallWindow, agent_records, agent_settled, model_heard, recordings
from trunkline.turnlog import TurnLogWriter, TurnRecord

T0 = 1_795_000_000.0
WINDOWS = [CallWindow("sip-1", T0, T0 + 20), CallWindow("sip-2", T0 + 20.5, T0 + 40)]


def write_log(path: Path, records: list[TurnRecord]) -> None:
    with TurnLogWriter(path) as w:
        for r in records:
            w.write(r)


def test_lines_go_to_the_call_that_was_on_the_line_and_take_its_id(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    write_log(
        log,
        [
            TurnRecord("SCL_a", "sip", 0, model_first_audio=T0 + 2),
            TurnRecord("SCL_a", "sip", 1, turn_detected=T0 + 9, model_first_audio=T0 + 10),
            TurnRecord("SCL_b", "sip", 0, model_first_audio=T0 + 22),
            TurnRecord("room-x", "webrtc", 0, model_first_audio=T0 + 30),  # not this path
            TurnRecord("SCL_c", "sip", 0, model_first_audio=T0 + 50),  # another run's call
        ],
    )
    found, problems = agent_records(log, WINDOWS, "sip")
    assert [(r.call_id, r.turn) for r in found] == [("sip-1", 0), ("sip-1", 1), ("sip-2", 0)]
    assert problems == ["call sip-2: the agent labelled turn 0 webrtc, not sip"]
    assert agent_records(tmp_path / "none.jsonl", WINDOWS, "sip")[1] == [
        f"the agent wrote no turn log ({tmp_path / 'none.jsonl'})"
    ]


async def test_settled_once_the_last_turn_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    write_log(log, [TurnRecord("SCL_a", "sip", 1, turn_detected=T0 + 9)])
    assert await agent_settled(log, WINDOWS[0], "sip", last_turn=1)
    assert not await agent_settled(log, WINDOWS[0], "sip", last_turn=2, within_s=0.3)


def record(path: Path, ms: int, connection: int, turn: int, samples: int) -> None:
    with wave.open(str(path / f"{ms}-c{connection}-t{turn}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(np.full(samples, turn, dtype=np.int16).tobytes())


def test_what_the_model_heard_and_which_connections_served_each_call(tmp_path: Path) -> None:
    record(tmp_path, int((T0 + 5) * 1000), 4, 1, 100)
    record(tmp_path, int((T0 + 12) * 1000), 4, 2, 200)
    record(tmp_path, int((T0 + 25) * 1000), 5, 1, 300)
    record(tmp_path, int((T0 + 99) * 1000), 9, 1, 10)  # outside every call
    (tmp_path / "notes.txt").write_text("not a recording")
    assert len(recordings(tmp_path)) == 4
    heard, connections = model_heard(tmp_path, WINDOWS)
    assert [(h.call_id, h.turn, len(h.audio), h.rate) for h in heard] == [
        ("sip-1", 1, 100, 24000),
        ("sip-1", 2, 200, 24000),
        ("sip-2", 1, 300, 24000),
    ]
    assert connections == {"sip-1": [4], "sip-2": [5]}
    assert model_heard(tmp_path / "missing", WINDOWS) == ([], {})
