"""The per-turn log: write/read round trip, validation, merging writers, clock conversion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trunkline.turnlog import (
    TurnLogError,
    TurnLogWriter,
    TurnRecord,
    epoch_from_monotonic,
    format_line,
    merge_turns,
    parse_line,
    read_turnlogs,
)

T0 = 1_795_000_000.0  # epoch floats resolve ~0.2 µs: compare stage durations to 1 µs


def full_turn(**changes: Any) -> TurnRecord:
    fields: dict[str, Any] = {
        "call_id": "CA1",
        "path": "twilio-ws",
        "turn": 0,
        "caller_speech_end": T0,
        "turn_detected": T0 + 0.5,
        "model_first_audio": T0 + 1.3,
        "pacer_first_frame": T0 + 1.36,
        "caller_first_audio": T0 + 1.41,
        "pacer": {"underruns": 2, "frames": 120},
        "source": "agent",
    }
    fields.update(changes)
    return TurnRecord(**fields)


def line(**obj: Any) -> str:
    return json.dumps({"v": 1, "call_id": "CA1", "path": "sip", "turn": 1, **obj})


def test_a_record_survives_a_round_trip() -> None:
    rec = full_turn(latency_s=1.4)
    text = format_line(rec)
    assert text.endswith("\n") and "\n" not in text[:-1]
    assert parse_line(text) == rec


def test_optional_fields_are_left_out_of_the_line() -> None:
    obj = json.loads(format_line(TurnRecord("CA9", "webrtc", 4)))
    assert obj == {"v": 1, "call_id": "CA9", "path": "webrtc", "turn": 4}


def test_stage_durations_and_latency() -> None:
    rec = full_turn()
    assert rec.stage_durations() == pytest.approx(
        {"turn_detection": 0.5, "model": 0.8, "pacing": 0.06, "transport": 0.05}, abs=1e-6
    )
    assert rec.response_latency() == pytest.approx(1.41)
    assert full_turn(latency_s=1.2).response_latency() == 1.2  # the writer's own measure wins
    partial = TurnRecord("CA1", "sip", 0, turn_detected=T0, model_first_audio=T0 + 0.9)
    assert partial.stage_durations()["model"] == pytest.approx(0.9)
    assert partial.stage_durations()["transport"] is None
    assert partial.response_latency() is None


def test_underruns_read_from_pacer_stats() -> None:
    assert full_turn().underruns() == 2
    assert full_turn(pacer={}).underruns() == 0
    assert full_turn(pacer={"underruns": "3"}).underruns() == 0


def test_late_gaps_read_from_pacer_stats() -> None:
    rec = full_turn(pacer={"late_gaps": 2, "late_gap_ms": 35.5})
    assert (rec.late_gaps(), rec.late_gap_ms()) == (2, 35.5)
    assert (full_turn().late_gaps(), full_turn().late_gap_ms()) == (0, 0.0)
    bad = full_turn(pacer={"late_gaps": True, "late_gap_ms": "9"})
    assert (bad.late_gaps(), bad.late_gap_ms()) == (0, 0.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"call_id": "CA1", "path": "sip", "turn": 1}), "schema version"),
        (line(turn_detcted=T0), "unknown field"),
        (line(call_id=""), "call_id"),
        (line(path="pstn"), "path must be one of twilio-ws, sip, webrtc"),
        (line(turn=-1), "turn"),
        (line(turn=True), "turn"),
        (line(turn=1.5), "turn"),
        (line(turn_detected="soon"), "turn_detected must be a finite number"),
        (line(turn_detected=12345.6), "monotonic"),
        (line(turn_detected=T0 * 1000), "milliseconds"),
        (line(latency_s=-0.1), "latency_s"),
        (line(pacer=[1]), "pacer"),
        (line(source=3), "source"),
        (line(turn_detected=T0 + 1, model_first_audio=T0), "model_first_audio"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(TurnLogError, match=message):
        parse_line(text)


def test_nan_is_refused() -> None:
    with pytest.raises(TurnLogError, match="finite"):
        parse_line(line(turn_detected=float("nan")))


def test_reading_reports_bad_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "turns.jsonl"
    with TurnLogWriter(log) as writer:
        writer.write(full_turn(turn=0))
        writer.write(full_turn(turn=1))
    with log.open("a") as f:
        f.write('{"v": 1, "call_id": "CA1", "path": "twilio-ws", "tu\n')  # torn line
        f.write("\n")
    with log.open("ab") as fb:
        fb.write(b'{"v": 1, "call_id": "CA\xff"}\n')  # a stray byte
    TurnLogWriter(log).close()  # reopening appends, never truncates
    with TurnLogWriter(log) as writer:
        writer.write(full_turn(turn=2))
    read = read_turnlogs([log, tmp_path / "missing.jsonl"])
    assert [r.turn for r in read.records] == [0, 1, 2]
    assert [p.where for p in read.problems] == [
        f"{log}:3",
        f"{log}:5",
        str(tmp_path / "missing.jsonl"),
    ]
    assert "not JSON" in read.problems[0].message
    assert "not UTF-8" in read.problems[1].message


def test_writers_in_turn_append_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "nested" / "turns.jsonl"
    a, b = TurnLogWriter(log), TurnLogWriter(log)
    for turn in range(5):
        a.write(full_turn(turn=turn, source="agent"))
        b.write(TurnRecord("CA1", "twilio-ws", turn, caller_speech_end=T0, source="caller"))
    a.close()
    b.close()
    read = read_turnlogs([log])
    assert not read.problems and len(read.records) == 10


def test_merge_combines_what_each_writer_saw() -> None:
    agent = TurnRecord(
        "CA1",
        "sip",
        0,
        turn_detected=T0 + 0.5,
        model_first_audio=T0 + 1.2,
        pacer_first_frame=T0 + 1.25,
        pacer={"underruns": 1},
        source="agent",
    )
    caller = TurnRecord(
        "CA1", "sip", 0, caller_speech_end=T0, caller_first_audio=T0 + 1.4, source="caller"
    )
    other_turn = TurnRecord("CA1", "sip", 1, turn_detected=T0 + 9, source="agent")
    merged = merge_turns([agent, caller, other_turn])
    assert not merged.problems
    first = merged.records[0]
    assert first.source == "agent+caller"
    assert first.response_latency() == pytest.approx(1.4)
    assert first.stage_durations() == pytest.approx(
        {"turn_detection": 0.5, "model": 0.7, "pacing": 0.05, "transport": 0.15}, abs=1e-6
    )
    assert first.underruns() == 1
    assert merged.records[1].turn == 1


def test_merge_reports_conflicts_and_backward_clocks() -> None:
    a = TurnRecord("CA1", "sip", 0, turn_detected=T0 + 0.5, source="agent")
    b = TurnRecord("CA1", "sip", 0, turn_detected=T0 + 0.7, source="sidecar")
    c = TurnRecord("CA1", "webrtc", 0, source="caller")
    same = TurnRecord("CA1", "sip", 0, turn_detected=T0 + 0.5004)  # within 1 ms: agrees
    backwards = [
        TurnRecord("CA2", "sip", 0, model_first_audio=T0 + 1.0),
        TurnRecord("CA2", "sip", 0, caller_first_audio=T0 + 0.5),
    ]
    merged = merge_turns([a, b, c, same, *backwards])
    assert [r.call_id for r in merged.records] == ["CA1"]
    assert merged.records[0].turn_detected == T0 + 0.5  # the first-read value is kept
    messages = [str(p) for p in merged.problems]
    assert len(messages) == 3
    assert "turn_detected" in messages[0] and "conflicts" in messages[0]
    assert "path webrtc conflicts with sip" in messages[1]
    assert messages[2].startswith("call CA2 turn 0") and "before" in messages[2]


def test_monotonic_readings_convert_to_epoch_seconds() -> None:
    epoch = epoch_from_monotonic(100.25, now_monotonic=101.0, now_epoch=T0)
    assert epoch == pytest.approx(T0 - 0.75)
    rec = TurnRecord("CA1", "sip", 0, pacer_first_frame=epoch)
    assert parse_line(format_line(rec)) == rec
