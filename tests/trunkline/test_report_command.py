"""``trunkline report`` on turn logs written the way the agent, sidecar and caller write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.turnlog import TurnLogWriter, TurnRecord
from trunkline import cli

T0 = 1_795_000_000.0


def write_logs(folder: Path) -> list[Path]:
    agent, caller = folder / "agent.jsonl", folder / "caller.jsonl"
    with TurnLogWriter(agent) as a, TurnLogWriter(caller) as c:
        for n in range(4):
            t = T0 + 10 * n
            for path in ("twilio-ws", "webrtc"):
                a.write(
                    TurnRecord(
                        f"{path}-1",
                        path,
                        n,
                        turn_detected=t + 0.4,
                        model_first_audio=t + 1.2 + 0.1 * n,
                        pacer_first_frame=t + 1.26 + 0.1 * n,
                        pacer={"underruns": 1 if n == 3 else 0},
                        source="agent",
                    )
                )
                c.write(
                    TurnRecord(
                        f"{path}-1",
                        path,
                        n,
                        caller_speech_end=t,
                        caller_first_audio=t + 1.3 + 0.1 * n,
                        source="caller",
                    )
                )
    with agent.open("a") as f:
        f.write("garbage\n")
    return [agent, caller]


def test_report_merges_writers_and_writes_summary_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = write_logs(tmp_path)
    out = tmp_path / "report"
    assert cli.main(["report", *map(str, logs), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Response latency per path" in captured.out and "twilio-ws" in captured.out
    assert "agent.jsonl:9" in captured.err and "not JSON" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["turns"] == 8 and len(summary["problems"]) == 1
    tw = summary["paths"][0]
    assert tw["path"] == "twilio-ws" and tw["turns"] == 4
    assert tw["latency_median_s"] == pytest.approx(1.45, abs=1e-6)
    assert tw["underruns"] == 1
    assert tw["stage_medians_s"]["turn_detection"] == pytest.approx(0.4, abs=1e-6)
    assert tw["stage_medians_s"]["transport"] == pytest.approx(0.04, abs=1e-6)
    assert (out / "latency_cdf.png").stat().st_size > 0
    assert (out / "waterfall.png").stat().st_size > 0


def test_report_without_any_valid_turn_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "r")]) == 1
    assert cli.main(["report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")]) == 1
