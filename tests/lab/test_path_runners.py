"""Each path's runner against the real stack: one short call in each pacer arm.

The rig runs as ``trunkline lab`` runs it with ``LIVEKIT_URL`` set — here to the session's
stack in the test's network namespace (so the deployment mode is what is exercised): per arm a
worker, a bridge and a local sidecar, and a simulator answering fast and steadily. Each test
places one call of two caller turns (the first talked over) on its path in both arms at once,
and checks what the lab will read from it: the merged waterfall, the replies as heard, what
the model heard, the A/B's difference in the agent's output, and no problem reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from lab.browser_runner import BROWSER
from lab.live_plan import LivePlan
from lab.path_runner import CallRunner, PathRun
from lab.paths_section import BRIDGE, LOCAL, RUNNERS, runners
from lab.rig import ArmEnds, LabRig
from tests.web.browser import require_chromium
from tests.web.call_rig import require_built_page
from trunkline.stack import LocalStack
from trunkline.turnlog import TIMESTAMPS

pytestmark = [pytest.mark.netns, pytest.mark.slow]

PLAN = LivePlan(calls=1, turns=2, think="300", chunking="bursty", seed=3)
Rig = tuple[LabRig, list[ArmEnds]]


@pytest.fixture(scope="module")
def rig(
    _session_stack: LocalStack, netns_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    stack = _session_stack
    env = {**stack.env, "LIVEKIT_SIP_URI": f"sip:{stack.sip_address}" if stack.sip else ""}
    out = tmp_path_factory.mktemp("lab-rig")
    with LabRig(out, env, host=netns_address) as lab:
        assert "LIVEKIT_URL" in lab.livekit.where
        with lab.phase(PLAN, out / "phase", len(RUNNERS)) as ends:
            yield lab, ends


def arm_runners(rig: Rig, name: str) -> dict[str, CallRunner]:
    lab, ends = rig
    found = {}
    for e in ends:
        (runner,) = [r for r in runners(e, PLAN, lab.livekit) if r.name == name]
        found[e.arm.name] = runner
    return found


async def one_call(rig: Rig, name: str) -> dict[str, PathRun]:
    by_arm = arm_runners(rig, name)
    await asyncio.gather(*(r.place(0) for r in by_arm.values()))
    await asyncio.gather(*(r.settle() for r in by_arm.values()))
    return {arm: r.collect() for arm, r in by_arm.items()}


def check(run: PathRun, rate: int, *, paced: bool, pacer_stamps: bool = True) -> None:
    assert run.problems == []
    assert [c["redispatched"] for c in run.calls] in ([0], [1], [2])
    (connections,) = [c["model_connections"] for c in run.calls]
    assert len(connections) == 1  # one model session served the call
    turns = {r.turn: r for r in run.records}
    assert set(turns) >= {1, 2}
    for n in (1, 2):
        stamped = [s for s in TIMESTAMPS if turns[n].timestamp(s) is not None]
        expected = list(TIMESTAMPS) if pacer_stamps else ["caller_speech_end", "turn_detected",
                                                          "caller_first_audio"]  # fmt: skip
        assert stamped == expected
        assert turns[n].response_latency() is not None
    stages = turns[2].stage_durations()
    if pacer_stamps and not paced:
        assert stages["pacing"] == 0.0  # the first frame went out as it came
    assert bool(turns[2].pacer) == paced  # the pacer's stats, where there is one
    heard = {t.turn: t for t in run.heard if t.call_id == run.calls[0]["call_id"]}
    assert set(heard) == {0, 1, 2}
    assert all(t.rate == rate and len(t.audio) > rate // 2 for t in heard.values())
    assert heard[1].interrupted and heard[1].barge_in_cutoff_ms is not None
    assert not heard[2].interrupted and heard[2].arrivals
    assert sorted(t.turn for t in run.upstream) == [1, 2]  # what the model heard
    assert all(t.rate == 24000 and len(t.audio) for t in run.upstream)


async def test_twilio_ws_local_the_sidecar_s_own_pacer_on_and_off(rig: Rig) -> None:
    runs = await one_call(rig, LOCAL)
    check(runs["paced"], 8000, paced=True)
    # with the sidecar's pacer off nothing stamps model or pacer (the waterfall says so)
    check(runs["unpaced"], 8000, paced=False, pacer_stamps=False)
    assert runs["paced"].receiver == "ulaw"


async def test_twilio_ws_through_the_bridge_into_a_room(rig: Rig) -> None:
    runs = await one_call(rig, BRIDGE)
    check(runs["paced"], 8000, paced=True)
    check(runs["unpaced"], 8000, paced=False)
    assert runs["paced"].receiver == "opus-ulaw"


@pytest.mark.livekit_sip
async def test_sip_through_livekit_sip(rig: Rig) -> None:
    lab, _ = rig
    assert lab.sip_gateway is not None, lab.sip_missing()
    runs = await one_call(rig, "sip")
    check(runs["paced"], 8000, paced=True)
    check(runs["unpaced"], 8000, paced=False)
    assert runs["paced"].path == "sip"


async def test_webrtc_an_sdk_participant_at_48_khz(rig: Rig) -> None:
    runs = await one_call(rig, "webrtc")
    check(runs["paced"], 48000, paced=True)
    check(runs["unpaced"], 48000, paced=False)
    # NetEq's own statistics give the receiver's playout delay (from the first reply on:
    # before the greeting the track has no inbound statistics yet)
    assert all(t.playout_s is not None for t in runs["paced"].heard if t.turn > 0)


async def test_webrtc_a_real_browser_on_the_call_page(rig: Rig) -> None:
    require_chromium()  # in CI a missing browser or page fails the test
    require_built_page()
    runs = await one_call(rig, BROWSER)
    check(runs["paced"], 48000, paced=True)
    check(runs["unpaced"], 48000, paced=False)
    assert runs["paced"].path == "webrtc" and runs["paced"].receiver == "opus"
    # Chromium's own inbound-rtp statistics: its jitter buffer's delay over each reply
    assert all(t.playout_s is not None for t in runs["paced"].heard if t.turn > 0)


def test_the_rig_says_what_it_measures(rig: Rig) -> None:
    lab, ends = rig
    assert {e.arm.name for e in ends} == {"paced", "unpaced"}
    assert len({e.agent_name for e in ends}) == 2  # the arms never take each other's calls
    assert lab.livekit.host not in ("127.0.0.1", "")
