"""Section (c): the A/B tables and frame timing from known data, and one short real A/B."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.progress import Progress

from lab.heard import HeardTurn
from lab.live_plan import LivePlan
from lab.live_section import measure_path
from lab.pacer_section import (
    PacerABSection,
    answer_times,
    caller_buffer_max_ms,
    frame_arrivals,
    pacer_late_gaps,
    pacer_underruns,
    pacer_wait_ms,
    paired_delta_ms,
    paired_sentence,
    source_ab_cells,
    twilio_ab_cells,
)
from lab.path_runner import PathRun
from lab.sections import LabContext
from lab.turnlog import JsonValue, TurnRecord
from trunkline import cli

T0 = 1_795_000_000.0


def test_frame_arrivals_date_each_frame_by_the_message_that_carried_it() -> None:
    # an unpaced burst: 60 ms, then 30 ms (a frame and a half), then 10 ms
    turn = HeardTurn(
        "CA1", 1, 8000, np.zeros(0, np.int16), arrivals=((1.0, 0.06), (1.5, 0.03), (2.0, 0.01))
    )
    assert frame_arrivals(turn).tolist() == [1.0, 1.0, 1.0, 1.5, 1.5]
    paced = HeardTurn("CA1", 1, 8000, np.zeros(0, np.int16), arrivals=((1.0, 0.02), (1.02, 0.02)))
    assert frame_arrivals(paced).tolist() == [1.0, 1.02]
    assert len(frame_arrivals(HeardTurn("CA1", 1, 8000, np.zeros(0, np.int16)))) == 0


def arm(name: str, paced: bool) -> PathRun:
    pacer: dict[str, JsonValue] = (
        {
            "underruns": 2,
            "underrun_ms": 140.0,
            "late_gaps": 1,
            "late_gap_ms": 25.0,
            "first_frame_latency_ms": 150.0,
        }
        if paced
        else {}
    )
    later = 0.15 if paced else 0.0
    records = [
        TurnRecord(
            f"{name}-{c}",
            "twilio-ws",
            n,
            caller_speech_end=T0,
            turn_detected=T0 + 0.2 + 0.1 * n,  # the VAD's timing differs by turn
            latency_s=1.2 + 0.1 * n + later + 0.01 * c,
            pacer=pacer,
        )
        for c in (0, 1)
        for n in (1, 2)
    ]
    cadence = {"buffered_max_ms": 80.0 if paced else 2600.0}
    # the second call is listed first: pairing goes by the order calls were placed
    calls = [{"call_id": f"{name}-{c}", "cadence": cadence} for c in (0, 1)]
    return PathRun(name, "twilio-ws", records=records[::-1], calls=calls)


def test_twilio_ab_table() -> None:
    paced, unpaced = arm("paced", True), arm("unpaced", False)
    assert pacer_underruns(paced) == (8, 560.0) and pacer_underruns(unpaced) is None
    assert pacer_late_gaps(paced) == (4, 100.0) and pacer_late_gaps(unpaced) is None
    assert caller_buffer_max_ms(unpaced) == 2600.0
    no_buffer = PathRun("x", "twilio-ws", calls=[{"cadence": {"buffered_max_ms": None}}])
    assert caller_buffer_max_ms(no_buffer) is None
    cells = twilio_ab_cells([measure_path(paced), measure_path(unpaced)])
    assert cells.rows[0][0] == "paced" and cells.rows[0][2] == "1,505 / 1,557"
    assert cells.rows[0][3] == "1,155" and cells.rows[1][3] == "1,005"
    assert cells.rows[0][6] == "4 (100 ms)" and cells.rows[1][6] == "no pacer"
    assert cells.rows[0][7] == "8 (560 ms)" and cells.rows[1][7] == "no pacer"
    assert cells.rows[1][-1] == "2,600"


def test_arms_pair_by_call_number_and_turn() -> None:
    paced, unpaced = arm("paced", True), arm("unpaced", False)
    assert answer_times(paced)[(1, 2)] == pytest.approx(1.4 + 0.15 + 0.01 - 0.4)
    assert paired_delta_ms(paced, unpaced) == pytest.approx([150.0] * 4)
    assert pacer_wait_ms(paced) == [150.0] * 4 and pacer_wait_ms(unpaced) == []
    assert "a median +150 ms later" in paired_sentence([150.0] * 4, [150.0] * 4)
    assert "cannot be paired" in paired_sentence([], [])


def test_source_ab_table() -> None:
    summary = {
        "arm": "paced", "turns": 3, "silence_ms": 730.0, "events": 1, "turns_with_silence": 1,
        "first_audio_median_ms": 14.2, "hold_median_ms": 60.0, "missing_samples": 0,
        "bit_exact": True, "clicks_per_min": 231.0, "clicks_ratio": 0.97,
    }  # fmt: skip
    (row,) = source_ab_cells([summary]).rows
    assert row == ["paced", "3", "1 (730 ms)", "1", "14", "60", "0", "yes", "231 (×0.97)"]


@pytest.mark.slow
def test_a_short_ab_through_real_sidecars(tmp_path: Path) -> None:
    section = PacerABSection(LivePlan(calls=1, turns=1, seed=2, think="300"), source_turns=1)
    with Progress(disable=True) as progress:
        res = section.run(LabContext(tmp_path, progress))
        assert [t.completed for t in progress.tasks] == [2, 2]
    twilio = res.data["twilio_ws"]
    paced, unpaced = twilio["paced"], twilio["unpaced"]
    assert paced["problems"] == [] and unpaced["problems"] == []
    # the same caller turn was answered and heard in both arms
    for a in (paced, unpaced):
        assert a["latency"]["latency_turns"] == 1 and a["heard"]["turns"] == 2
    # paced: the whole waterfall was stamped; unpaced: nothing stamps the pacer stages
    (turn,) = [t for t in paced["turns"] if t["turn"] == 1]
    for stamp in ("caller_speech_end", "turn_detected", "model_first_audio", "pacer_first_frame",
                  "caller_first_audio"):  # fmt: skip
        assert stamp in turn
    assert paced["pacer_underruns"] is not None and unpaced["pacer_underruns"] is None
    assert all("pacer" not in t for t in unpaced["turns"])
    # unpaced, the bursts pile up in the caller's buffer; paced, the lead bounds it
    assert unpaced["caller_buffer_max_ms"] > paced["caller_buffer_max_ms"]
    source = res.data["audio_source"]["arms"]
    assert source["paced"]["summary"]["bit_exact"] and source["unpaced"]["summary"]["turns"] == 1
    assert [f.name for f in res.figures] == ["pacer-frame-timing.png"]
    assert "](pacer-frame-timing.png)" in res.markdown and len(res.tables) == 2
    assert len(res.data["paired"]["paced_minus_unpaced_ms"]) == 1
    json.dumps(res.data, allow_nan=False)
    # the arm's turn log (sidecar + caller lines) is what `trunkline report` reads
    report = tmp_path / "report"
    assert (
        cli.main(["report", str(tmp_path / "pacer-paced" / "turns.jsonl"), "--out", str(report)])
        == 0
    )
    summary = json.loads((report / "summary.json").read_text())
    assert summary["problems"] == [] and summary["paths"][0]["latency_turns"] == 1
    assert all(v is not None for v in summary["paths"][0]["stage_medians_s"].values())
