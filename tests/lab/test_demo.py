"""``make demo`` end to end: the real sidecar process, the simulator, the simulated caller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trunkline.turnlog import read_turnlogs

pytestmark = pytest.mark.slow


def test_the_demo_call_is_answered_interrupted_and_ended_by_the_agent(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, "-m", "lab.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Where the time went" in run.stdout
    for name in ("heard.wav", "heard.png", "call.json", "turns.jsonl", "sidecar.log"):
        assert (out / name).stat().st_size > 0, name
    call = json.loads((out / "call.json").read_text())
    assert call["hung_up_by"] == "agent" and call["close_code"] == 1000
    turns = call["turns"]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    assert all(t["latency_ms"] and t["heard_ms"] > 0 and t["gaps"] == 0 for t in turns)
    # the caller talked over the second reply: Twilio was told to clear its buffer
    barge = turns[1]["barge_in"]
    assert barge is not None and barge["clear_after_ms"] is not None
    assert call["clears"] >= 1
    # agent and caller lines merged per turn: greeting, key press, three replies
    log = read_turnlogs([out / "turns.jsonl"])
    assert not log.problems
    assert {r.path for r in log.records} == {"twilio-ws"}
    assert {r.call_id for r in log.records} == {call["call_sid"]}
