"""``trunkline report`` on turn logs written the way the agent, sidecar and caller write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trunkline import cli
from trunkline.paths import CallPath
from trunkline.turnlog import TurnLogWriter, TurnRecord

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
                        pacer={
                            "underruns": 1 if n == 3 else 0,
                            "late_gaps": 2 if n == 2 else 0,
                            "late_gap_ms": 45.0 if n == 2 else 0.0,
                        },
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
    assert (tw["late_gaps"], tw["late_gap_ms"]) == (2, 45.0)
    assert "2 (45 ms)" in captured.out  # the late gaps column
    assert tw["stage_medians_s"]["turn_detection"] == pytest.approx(0.4, abs=1e-6)
    assert tw["stage_medians_s"]["transport"] == pytest.approx(0.04, abs=1e-6)
    assert (out / "latency_cdf.png").stat().st_size > 0
    assert (out / "waterfall.png").stat().st_size > 0


def test_report_without_any_valid_turn_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "r")]) == 1
    assert cli.main(["report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")]) == 1


#: The turn log of a `make demo` run, as written (agent lines by the sidecar at each turn's
#: end, then the caller's lines): greeting, one turn, one turn the caller talked over.
DEMO_LOG = """\
{"v":1,"call_id":"CA4c","path":"twilio-ws","turn":0,"model_first_audio":1795477839.7889411,"pacer_first_frame":1795477839.8631027,"caller_first_audio":1795477839.8705783,"pacer":{"underruns":0,"underrun_ms":0.0,"frames":386,"hold_ms":60.0,"first_frame_latency_ms":74.2,"late_ticks":0,"max_lateness_ms":0.0,"queue_high_water_ms":3554.1,"interrupted":false},"source":"agent"}
{"v":1,"call_id":"CA4c","path":"twilio-ws","turn":1,"turn_detected":1795477859.8606262,"model_first_audio":1795477860.679443,"pacer_first_frame":1795477860.8505456,"caller_first_audio":1795477860.8709474,"pacer":{"underruns":1,"underrun_ms":217.6,"frames":264,"hold_ms":168.5,"first_frame_latency_ms":171.1,"late_ticks":0,"max_lateness_ms":2.0,"queue_high_water_ms":1871.6,"interrupted":false},"source":"agent"}
{"v":1,"call_id":"CA4c","path":"twilio-ws","turn":2,"turn_detected":1795477870.4934607,"model_first_audio":1795477871.62834,"pacer_first_frame":1795477871.8806906,"caller_first_audio":1795477871.8920617,"pacer":{"underruns":0,"underrun_ms":0.0,"frames":84,"hold_ms":250.0,"first_frame_latency_ms":252.4,"late_ticks":0,"max_lateness_ms":0.0,"queue_high_water_ms":1424.0,"interrupted":true},"source":"agent"}
{"v":1,"call_id":"CA4c","path":"twilio-ws","turn":1,"caller_speech_end":1795477859.6907556,"latency_s":1.1608,"source":"caller"}
{"v":1,"call_id":"CA4c","path":"twilio-ws","turn":2,"caller_speech_end":1795477869.8697402,"latency_s":2.0118,"source":"caller"}
"""


def test_report_of_a_demo_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "demo" / "turns.jsonl"
    log.parent.mkdir()
    log.write_text(DEMO_LOG)
    out = tmp_path / "report"
    assert cli.main(["report", str(log), "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""  # every line valid, every merge consistent
    summary = json.loads((out / "summary.json").read_text())
    (tw,) = summary["paths"]
    assert tw["path"] == "twilio-ws" and tw["turns"] == 3 and tw["latency_turns"] == 2
    assert tw["latency_median_s"] == pytest.approx((1.1608 + 2.0118) / 2)
    assert tw["underruns"] == 1 and tw["turns_with_underruns"] == 1
    stages = tw["stage_medians_s"]
    assert stages["turn_detection"] == pytest.approx((0.1699 + 0.6237) / 2, abs=1e-3)
    assert stages["pacing"] == pytest.approx(0.1711, abs=1e-3)  # the middle of three turns
    assert all(v is not None for v in stages.values())
    assert (out / "latency_cdf.png").stat().st_size > 0


def test_report_compares_the_paths_of_a_split_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "split.jsonl"
    with TurnLogWriter(log) as w:
        for i in range(30):
            path: CallPath = "sip" if i % 2 else "twilio-ws"
            latency = 1.0 + 0.02 * (i // 2) + (0.25 if path == "sip" else 0.0)
            w.write(TurnRecord(f"CA{i:032x}", path, 1, latency_s=latency, source="caller"))
    out = tmp_path / "report"
    assert cli.main(["report", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Each path against twilio-ws" in printed and "+250" in printed
    (sip,) = json.loads((out / "summary.json").read_text())["comparisons"]
    assert (sip["path"], sip["baseline"], sip["calls"], sip["baseline_calls"]) == (
        "sip",
        "twilio-ws",
        15,
        15,
    )
    assert sip["median_delta_s"] == pytest.approx(0.25)
    low, high = sip["median_delta_ci_s"]
    assert 0 < low < 0.25 < high
