"""The paths section's report from recorded-like runs: no servers, known figures.

Four paths in two pacer arms and a sweep phase, built so every figure is known: the paced arm
hears the clean reply through its receiver's codecs, the unpaced arm the same with silence
inserted; latencies and stages are set per path so the readings have something to say.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.chains import Receiver
from lab.heard import HeardTurn
from lab.live_plan import SHORT_REPLY, LivePlan, clean_audio
from lab.path_measures import measure, reference_for
from lab.path_notes import ab_reading, break_even_ms
from lab.path_runner import PathRun, Unmeasured
from lab.paths_report import PathsResult, PhaseRuns, paths_result, sweep_points
from trunkline.paths import CallPath
from trunkline.turnlog import JsonValue, TurnRecord

T0 = 1_795_000_000.0
CALLS = (0,)
PATHS: tuple[tuple[str, CallPath, Receiver, float], ...] = (
    # name, path, receiver, transport s
    ("twilio-ws (local)", "twilio-ws", "ulaw", 0.005),
    ("twilio-ws (bridge)", "twilio-ws", "opus-ulaw", 0.2),
    ("sip", "sip", "opus-ulaw", 0.14),
    ("webrtc", "webrtc", "opus", 0.05),
    ("webrtc (browser)", "webrtc", "opus", 0.06),
)


def records(name: str, transport: float, model: float, paced: bool) -> list[TurnRecord]:
    out = []
    for call in CALLS:
        for turn in (1, 2):
            t = T0 + 100 * call + 20 * turn
            pacing = 0.08 if paced else 0.0
            pacer: dict[str, JsonValue] = (
                {"underruns": 1, "underrun_ms": 40.0, "late_gaps": 1, "late_gap_ms": 25.0}
                if paced and turn == 2
                else {}
            )
            out.append(
                TurnRecord(
                    f"{name}-{call}",
                    "webrtc"
                    if name.startswith("webrtc")
                    else "sip"
                    if name == "sip"
                    else "twilio-ws",
                    turn,
                    caller_speech_end=t,
                    turn_detected=t + 0.7,
                    model_first_audio=t + 0.7 + model,
                    pacer_first_frame=t + 0.7 + model + pacing,
                    caller_first_audio=t + 0.7 + model + pacing + transport,
                    pacer=pacer,
                )
            )
    return out


def heard(name: str, receiver: Receiver, gap_s: float, bursty: bool = False) -> list[HeardTurn]:
    ref = reference_for(receiver)
    turns = []
    for call in CALLS:
        for turn in (0, 1, 2):
            pcm = ref(turn).pcm
            rate = ref(turn).rate
            if gap_s and turn == 2:
                # inside a word, where the clean reply has no pause of its own
                i = len(pcm) // 4 + int(np.argmax(np.abs(pcm[len(pcm) // 4 : len(pcm) // 2])))
                pcm = np.concatenate([pcm[:i], np.zeros(round(gap_s * rate), np.int16), pcm[i:]])
            arrivals = tuple((T0 + 0.02 * k, 0.02) for k in range(len(pcm) * 50 // rate))
            if bursty:  # half a second of audio every quarter of a second
                arrivals = tuple((T0 + 0.25 * k, 0.5) for k in range(len(pcm) * 2 // rate))
            turns.append(
                HeardTurn(
                    f"{name}-{call}",
                    turn,
                    rate,
                    pcm,
                    arrivals=arrivals,
                    barge_in_cutoff_ms=300.0 if turn == 1 else None,
                    playout_s=0.04 if receiver == "opus" else 0.0,
                )
            )
    return turns


def run(name: str, path: CallPath, receiver: Receiver, transport: float, arm: str) -> PathRun:
    paced = arm == "paced"
    upstream = [HeardTurn(f"{name}-0", 1, 24000, clean_audio(1))]
    return PathRun(
        name,
        path,
        receiver=receiver,
        records=records(name, transport, 1.0, paced),
        heard=heard(name, receiver, 0.0 if paced else 0.3, bursty=not paced and receiver == "ulaw"),
        upstream=upstream,
        calls=[{"call_id": f"{name}-{c}", "model_connections": [4 * c]} for c in CALLS],
    )


def phase(think: str, main: bool) -> PhaseRuns:
    plan = LivePlan(calls=1, turns=3, think=think)
    if not main:
        plan = LivePlan(calls=1, turns=2, barge_in=False, think=think, reply=SHORT_REPLY)
    return PhaseRuns(
        think,
        plan,
        main,
        {arm: {n: run(n, p, r, t, arm) for n, p, r, t in PATHS} for arm in ("paced", "unpaced")},
        sessions_per_draw=len(PATHS),
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    out = tmp_path_factory.mktemp("paths")
    phases = [phase("lognormal:median=900,p90=1800", True), phase("250", False)]
    paths = PathsResult("a local stack", phases, [Unmeasured("x", "sip", "a reason")])
    return paths_result(paths, out, "paths", "Every caller path"), out


def test_the_all_path_table_has_a_column_per_path_a_published_one_and_a_reading(
    result: tuple[object, Path],
) -> None:
    res, _ = result
    table = res.tables[0]  # type: ignore[attr-defined]
    headers = [c.header for c in table.columns]
    assert headers == ["", *(p[0] for p in PATHS), "published"]
    md = res.markdown  # type: ignore[attr-defined]
    assert "| response latency median / p90 ms |" in md
    assert "WS ~1,920 · SIP ~2,060 (medians)" in md and "< 5 %" in md
    readings = res.data["readings"]  # type: ignore[attr-defined]
    # latency differs only by transport (5–200 ms on ~1.8 s): the published shape
    assert readings["latency"].startswith("Agrees in shape")
    assert readings["transport_share"].startswith(
        "Agrees on twilio-ws (local), webrtc, webrtc (browser); twilio-ws (bridge), sip are at "
        "10.1 %, 7.3 %"
    )
    assert "espeak-ng" in readings["bandwidth_down"]
    assert "x: not measured — a reason" in md


def test_the_pacer_ab_says_where_the_transport_paces_and_what_pacing_bought(
    result: tuple[object, Path],
) -> None:
    res, _ = result
    ab = res.data["pacer_ab"]  # type: ignore[attr-defined]
    local = ab["twilio-ws (local)"]["reading"]
    assert local.startswith("**Nothing else paces here**: unpaced, model bursts reached the")
    assert "up to 2,750 ms ahead of real time (paced 20 ms)" in local  # 5 s in 2.25 s
    for name, *_ in PATHS[1:]:
        assert ab[name]["reading"].startswith("**The transport already paces here**")
    assert (
        "the page plays it from Chromium's own jitter buffer" in ab["webrtc (browser)"]["reading"]
    )
    for name, *_ in PATHS:
        assert "**Pacing buys continuity**: 300 ms less silence heard" in ab[name]["reading"]
        # paced 80 ms later on every turn answered in both arms
        assert ab[name]["paired_paced_minus_unpaced_ms"] == pytest.approx([80.0] * 2)


def test_when_both_arms_hear_the_same_the_pacer_changed_little() -> None:
    paced = measure(run("sip", "sip", "opus-ulaw", 0.14, "paced"), "paced")
    same = measure(run("sip", "sip", "opus-ulaw", 0.14, "paced"), "unpaced")
    text = ab_reading(paced, same, [70.0])
    assert text.startswith("**The transport already paces here**")
    assert "livekit-sip's mixer" in text and "+70 ms" in text
    assert "**Pacing changed little that the caller heard**" in text


def test_the_sweep_has_a_point_per_phase_and_a_break_even(result: tuple[object, Path]) -> None:
    res, _ = result
    points = res.data["sweep"]  # type: ignore[attr-defined]
    assert [p["think"] for p in points["sip"]] == ["lognormal:median=900,p90=1800", "250"]
    assert points["sip"][0]["model_ms"] == pytest.approx(1000)
    assert points["sip"][0]["share"] == pytest.approx(0.14 / (0.7 + 1.0 + 0.08 + 0.14))
    # transport 140 ms: 5 % of the latency once the model is under 2.8 s − 140 − 700 − 80 ms
    sip = measure(run("sip", "sip", "opus-ulaw", 0.14, "paced"), "paced")
    assert break_even_ms(sip) == pytest.approx(2800 - 140 - 700 - 80, abs=0.01)
    assert sweep_points([]) == {}


def test_figures_and_lab_json(result: tuple[object, Path]) -> None:
    res, out = result
    names = {f.name for f in res.figures}  # type: ignore[attr-defined]
    assert names == {
        "paths-latency-cdf.png",
        "paths-waterfall.png",
        "paths-spectrograms.png",
        "paths-spectrograms-up.png",
        "paths-pacer-ab.png",
        "paths-sweep.png",  # the main phase and the sweep's: two points per path
    }
    for name in names:
        assert (out / name).is_file() and f"]({name})" in res.markdown  # type: ignore[attr-defined]
    data = json.loads(json.dumps(res.data, allow_nan=False))  # type: ignore[attr-defined]
    first = data["phases"][0]["runs"]["paced"]["sip"]
    assert first["heard"]["gaps"] == 0 and first["latency"]["latency_turns"] == 2
    assert data["phases"][0]["runs"]["unpaced"]["sip"]["heard"]["gaps"] == 1
    assert data["phases"][1]["runs"]["paced"]["sip"]["heard"] is None  # the sweep: latency only
    assert data["problems"] == []


def test_the_pacer_ab_table_shows_the_pacers_late_gaps_beside_the_callers_underruns(
    result: tuple[object, Path],
) -> None:
    res, _ = result
    md = res.markdown  # type: ignore[attr-defined]
    assert "| pacer late gaps |" in md and "| 1 (25 ms) |" in md
    paced = next(m for m in res.data["phases"][0]["runs"]["paced"].values())  # type: ignore[attr-defined]
    unpaced = next(m for m in res.data["phases"][0]["runs"]["unpaced"].values())  # type: ignore[attr-defined]
    # one late gap of 25 ms on turn 2 of each call, as the pacer counted it
    assert tuple(paced["pacer_late_gaps"]) == (len(CALLS), 25.0 * len(CALLS))
    assert unpaced["pacer_late_gaps"] is None
