"""The live plan: what the sidecar is told, what the callers do, and the clean references."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from agent.sim import cli as sim_cli
from agent.sim.script import Script
from agent.sim.timing import Chunking
from lab.live_plan import GREETING, REPLY, SHORT_REPLY, LivePlan, clean_audio


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


def test_the_simulator_accepts_the_plans_flags(tmp_path: Path) -> None:
    """The flags are parsed by ``trunkline sim``'s own parser, so they cannot drift apart."""
    plan = LivePlan(seed=7, think="300", chunking="steady")
    script = tmp_path / "script.json"
    script.write_text(plan.script_json())
    parser = argparse.ArgumentParser()
    sim_cli.configure(parser)
    args = parser.parse_args([*plan.sim_args(script), "--sessions-per-draw", "4"])
    assert args.seed == 7 and args.sim_chunking is Chunking.STEADY
    assert str(args.sim_think) == "300" and args.sim_sessions_per_draw == 4
    loaded: Script = args.sim_script
    assert loaded.reply(0).say == GREETING
    assert {loaded.reply(n).say for n in range(1, 6)} == {REPLY}
    assert json.loads(plan.script_json())["turns"] == []
    short = json.loads(LivePlan(reply=SHORT_REPLY).script_json())
    assert short["fallback"] == SHORT_REPLY


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


def test_the_caller_script_speaks_the_twilio_caller_s_clips_at_the_line_s_rate() -> None:
    plan = LivePlan(turns=3)
    sip, web = plan.caller_script(8000), plan.caller_script(48000)
    assert (sip.clip_rate, web.clip_rate) == (8000, 48000)
    assert sip.turns == 3 and sip.barge_in_turns == {2} and sip.linger_s == plan.linger_s
    twilio_frames = plan.caller_options("http://x", 0).speech
    for clip, frames, wide in zip(sip.clips, twilio_frames, web.clips, strict=True):
        # the same trimmed speech: 20 ms frames at 8 kHz, six times the samples at 48 kHz
        assert len(frames) == -(-len(clip) // 160)
        assert abs(len(wide) - 6 * len(clip)) <= 6
