"""The live plan: what the sidecar is told, what the callers do, and the clean references."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from agent.sim.script import Script
from agent.sim.timing import Chunking
from lab.live_plan import GREETING, REPLY, LivePlan, clean_audio, path_reference
from sip.sidecar import serve


def test_the_barge_in_is_the_next_to_last_turn() -> None:
    assert LivePlan(turns=3).barge_in_turns == {2}
    assert LivePlan(turns=2).barge_in_turns == {1}
    assert LivePlan(turns=1).barge_in_turns == set()
    assert LivePlan(turns=3, barge_in=False).barge_in_turns == set()
    assert LivePlan(turns=3).first_complete_turn == 1
    assert LivePlan(turns=2).first_complete_turn == 2
    assert LivePlan(turns=1).first_complete_turn == 1


def test_a_plan_needs_a_call_and_a_turn() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LivePlan(calls=0)
    with pytest.raises(ValueError, match="at least one"):
        LivePlan(turns=0)


def test_the_sidecar_accepts_the_plans_flags(tmp_path: Path) -> None:
    """The flags are parsed by ``trunkline serve``'s own parser, so they cannot drift apart."""
    plan = LivePlan(seed=7, think="300", chunking="steady")
    script = tmp_path / "script.json"
    script.write_text(plan.script_json())
    parser = argparse.ArgumentParser()
    serve.configure(parser)
    args = parser.parse_args([*plan.serve_args(script), "--pacer", "off"])
    assert args.seed == 7 and args.sim_chunking is Chunking.STEADY
    assert str(args.sim_think) == "300" and args.pacer == "off"
    loaded: Script = args.sim_script
    assert loaded.reply(0).say == GREETING
    assert {loaded.reply(n).say for n in range(1, 6)} == {REPLY}
    assert json.loads(plan.script_json())["turns"] == []


def test_callers_differ_only_in_their_line_noise_seed() -> None:
    plan = LivePlan(turns=3, seed=5)
    first, second = plan.caller_options("http://x", 0), plan.caller_options("http://x", 1)
    assert (first.seed, second.seed) == (5, 6)
    assert first.turns == 3 and first.barge_in_turns == {2} and first.linger_s == plan.linger_s
    assert first.speech == second.speech and len(first.speech) == len(plan.speech)
    assert first.call_sid != second.call_sid


def test_clean_references() -> None:
    greeting, reply = clean_audio(0), clean_audio(1)
    assert clean_audio(3) is reply and not np.array_equal(greeting[: len(reply)], reply)
    assert 4.0 < len(reply) / 24000 < 6.0
    ref = path_reference("twilio-ws")
    assert ref(2).rate == 8000 and ref(2) is ref(1) and len(ref(0).pcm) < len(ref(1).pcm)
    assert path_reference("webrtc")(1).rate == 48000
