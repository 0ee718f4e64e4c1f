"""Section (b) from a canned path run: tables, figures, report text and unmeasured paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from rich.progress import Progress

from lab.heard import HeardTurn
from lab.live_plan import LivePlan, path_reference
from lab.live_section import LiveCallSection, first_call_reply, turn_waterfalls
from lab.path_runner import PathRun, room_routes
from lab.paths import CallPath
from lab.sections import LabContext, SectionResult, environment, write_markdown
from lab.turnlog import TurnRecord

T0 = 1_795_000_000.0


def records(call: str) -> list[TurnRecord]:
    out = [TurnRecord(call, "twilio-ws", 0, model_first_audio=T0 + 1, pacer_first_frame=T0 + 1.06)]
    for n in (1, 2):
        t = T0 + 10 * n
        out.append(
            TurnRecord(
                call,
                "twilio-ws",
                n,
                caller_speech_end=t,
                turn_detected=t + 0.3,
                model_first_audio=t + 1.1,
                pacer_first_frame=t + 1.16,
                caller_first_audio=t + 1.18,
                latency_s=1.18,
                pacer={"underruns": n - 1},
            )
        )
    return out


def heard(call: str) -> list[HeardTurn]:
    ref = path_reference("twilio-ws")
    reply = ref(1).pcm
    gapped = np.concatenate([reply[:8000], np.zeros(400, np.int16), reply[8000:]])
    return [
        HeardTurn(call, 0, 8000, ref(0).pcm),
        HeardTurn(call, 1, 8000, reply[:8000], barge_in_clear_ms=450.0, barge_in_cutoff_ms=430.0),
        HeardTurn(call, 2, 8000, gapped, receiver_gaps=1),
    ]


@dataclass(frozen=True)
class CannedRunner:
    name: str = "twilio-ws"
    path: CallPath = "twilio-ws"

    def run(self, plan: LivePlan, workdir: Path, on_call: Callable[[int], None]) -> PathRun:
        for i in range(plan.calls):
            on_call(i)
        calls = ["CA-a", "CA-b"][: plan.calls]
        return PathRun(
            self.name,
            self.path,
            records=[r for c in calls for r in records(c)],
            heard=[t for c in calls for t in heard(c)],
            calls=[{"call_id": c} for c in calls],
            problems=["a problem worth reporting"],
        )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[SectionResult, Path]:
    out = tmp_path_factory.mktemp("live")
    section = LiveCallSection(LivePlan(calls=2, turns=2), [CannedRunner()], room_routes({}))
    with Progress(disable=True) as progress:
        res = section.run(LabContext(out, progress))
        assert progress.tasks[0].completed == 2  # one step per call
    return res, out


def test_latency_and_waterfall_per_path(result: tuple[SectionResult, Path]) -> None:
    res, _ = result
    path = res.data["paths"]["twilio-ws"]
    assert path["latency"]["turns"] == 6 and path["latency"]["latency_turns"] == 4
    assert path["latency"]["latency_median_s"] == pytest.approx(1.18)
    medians = path["latency"]["stage_medians_s"]
    assert medians["model"] == pytest.approx(0.8) and medians["transport"] == pytest.approx(0.02)
    assert path["latency"]["underruns"] == 2
    assert "The largest is **model** (68 % of the median latency)" in res.markdown
    assert len(path["turns"]) == 6 and path["problems"] == ["a problem worth reporting"]
    assert "a problem worth reporting" in res.markdown


def test_what_the_caller_heard(result: tuple[SectionResult, Path]) -> None:
    res, _ = result
    heard = res.data["paths"]["twilio-ws"]["heard"]
    assert heard["turns"] == 6 and heard["gaps"] == 2 and heard["gap_ms"] == pytest.approx(100)
    assert heard["receiver_gaps"] == 2 and heard["barge_ins"] == 2
    assert heard["barge_in_clear_ms"] == pytest.approx(450.0)
    assert 3000 < heard["bandwidth_welch_hz"] < 4000
    assert "| twilio-ws | 6 |" in res.markdown and "450 / 430" in res.markdown


def test_unreachable_paths_are_named_with_the_reason_and_no_numbers(
    result: tuple[SectionResult, Path],
) -> None:
    res, _ = result
    assert res.data["not_measured"] == {
        "twilio-ws (bridge)": "LIVEKIT_URL not set",
        "webrtc": "LIVEKIT_URL not set",
        "sip": "LIVEKIT_URL not set",
    }
    assert "- webrtc: not measured — LIVEKIT_URL not set" in res.markdown
    assert set(res.data["paths"]) == {"twilio-ws"}
    assert [t.title for t in res.tables][-1] == "Paths not measured"


def test_room_routes_say_why_when_livekit_is_configured() -> None:
    routes = room_routes({"LIVEKIT_URL": "wss://example.livekit.cloud"})
    assert {r.path for r in routes} == {"twilio-ws", "webrtc", "sip"}
    assert all("no runner" in r.reason for r in routes)


def test_figures_sit_beside_their_methods_once(result: tuple[SectionResult, Path]) -> None:
    res, out = result
    names = [f.name for f in res.figures]
    assert names == [
        "live-latency-cdf.png",
        "live-waterfall.png",
        "live-waterfall-twilio-ws.png",
        "live-spectrograms.png",
    ]
    assert all((out / n).stat().st_size > 0 for n in names)
    md = write_markdown([res], environment("trunkline lab"), out / "REPORT.md").read_text()
    for name in names:
        assert md.count(f"]({name})") == 1
    # the waterfall figure follows the method that explains it
    assert md.index("**The waterfall**") < md.index("](live-waterfall.png)")
    json.dumps(res.data, allow_nan=False)


def test_per_turn_waterfall_and_sample_reply() -> None:
    rows = turn_waterfalls(records("CA-b") + records("CA-a"))
    assert list(rows) == ["call 1 turn 1", "call 1 turn 2", "call 2 turn 1", "call 2 turn 2"]
    assert rows["call 1 turn 1"]["model"] == pytest.approx(0.8)
    run = CannedRunner().run(LivePlan(calls=2), Path("."), lambda _i: None)
    reply = first_call_reply(run, 2)
    assert reply is not None and reply.call_id == "CA-a" and reply.receiver_gaps == 1
    assert first_call_reply(run, 7) is None
