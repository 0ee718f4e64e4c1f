"""The simulator's command-line flags, shared by ``trunkline sim`` and ``trunkline serve``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from agent.sim.options import SimOptions, add_arguments, from_args
from agent.sim.script import DEFAULT_SCRIPT
from agent.sim.timing import Chunking, ThinkTime


def parser(prefix: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(p, prefix=prefix)
    return p


def test_defaults_match_sim_options() -> None:
    assert from_args(parser().parse_args([])) == SimOptions()


def test_flags_set_every_option(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"greeting": "Yo."}))
    args = parser().parse_args(
        ["--think-ms", "lognormal:median=1200,p90=2500", "--chunking", "steady", "--seed", "7",
         "--script", str(script)]
    )  # fmt: skip
    options = from_args(args)
    assert options.think == ThinkTime.parse("lognormal:median=1200,p90=2500")
    assert options.chunking is Chunking.STEADY
    assert options.seed == 7
    assert options.script.greeting == "Yo."
    assert options.script.turns == DEFAULT_SCRIPT.turns
    assert (options.sessions_per_draw, options.record_dir) == (1, None)
    more = parser("sim-").parse_args(
        ["--sim-sessions-per-draw", "3", "--sim-record", str(tmp_path / "heard")]
    )
    assert from_args(more).sessions_per_draw == 3
    assert from_args(more).record_dir == tmp_path / "heard"


def test_prefixed_flags_for_serve() -> None:
    args = parser("sim-").parse_args(["--sim-think-ms", "300", "--sim-chunking", "bursty"])
    assert from_args(args).think == ThinkTime.fixed(300)
    with pytest.raises(SystemExit):
        parser("sim-").parse_args(["--think-ms", "300"])


def test_bad_values_are_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = (
        ["--think-ms", "soon"],
        ["--chunking", "smooth"],
        ["--script", "/nope.json"],
        ["--sessions-per-draw", "0"],
    )
    for argv in bad:
        with pytest.raises(SystemExit):
            argparse_parser = argparse.ArgumentParser()
            add_arguments(argparse_parser)
            argparse_parser.parse_args(argv)
    err = capsys.readouterr().err
    assert "unknown think-time spec 'soon'" in err
    assert "invalid choice: 'smooth'" in err
    assert "cannot read script /nope.json" in err
    assert "must be at least 1, got 0" in err
