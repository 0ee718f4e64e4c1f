"""``trunkline lab`` end to end on small inputs, and its settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from lab import lab_command
from lab.speech import bundled_speech_files
from trunkline import cli


def test_lab_writes_table_json_report_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = bundled_speech_files()[1]
    argv = [
        "lab",
        "--sections",
        "codec",
        "--speech",
        str(clip),
        str(clip),
        "--synth-seconds",
        "1.5",
        "--out",
        str(tmp_path),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Codec chains per path" in out and "arctic_a0009-2" in out
    doc = json.loads((tmp_path / "lab.json").read_text())
    rows = doc["sections"]["codec_chains"]["rows"]
    assert {r["speech"] for r in rows} == {"arctic_a0009", "arctic_a0009-2", "synthetic-0"}
    assert len(rows) == 12
    assert doc["sections"]["codec_chains"]["duration_s"] >= 0
    report = (tmp_path / "REPORT.md").read_text()
    assert doc["environment"]["command"] == (
        f"trunkline lab --sections codec --out {tmp_path} --speech {clip} {clip} "
        "--opus-bitrate 32000 --synth-seconds 1.5"
    )
    for png in doc["figures"]["codec_chains"]:
        assert (tmp_path / png).is_file() and f"]({png})" in report


def test_lab_refuses_unreadable_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["lab", "--sections", "codec", "--speech", str(tmp_path / "nope.wav")]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    assert "cannot decode" in capsys.readouterr().err
    assert not (tmp_path / "lab.json").exists()


def test_lab_refuses_nonsense_settings(tmp_path: Path) -> None:
    codec = ["lab", "--sections", "codec", "--out", str(tmp_path)]
    assert cli.main([*codec, "--synth-seconds", "0"]) == 2
    assert cli.main([*codec, "--opus-bitrate", "10"]) == 2
    assert cli.main([*codec, "--calls", "0"]) == 2
    assert cli.main([*codec, "--quick", "--sweep-turns", "0"]) == 2
    assert cli.main([*codec, "--sweep-ms", "-5"]) == 2
    assert not (tmp_path / "lab.json").exists()


def test_without_the_servers_the_paths_section_names_make_livekit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIVEKIT_URL", raising=False)
    monkeypatch.setattr("trunkline.stack.binaries.find", lambda name: None)
    argv = ["lab", "--sections", "paths", "--env-file", str(tmp_path / "none.env")]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "redis-server and livekit-server are not installed: run `make livekit`" in err
    assert "LIVEKIT_URL" in err and "--sections codec" in err
    assert not (tmp_path / "lab.json").exists()


def test_with_livekit_url_no_local_server_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trunkline.stack.binaries.find", lambda name: None)
    monkeypatch.setenv("LIVEKIT_URL", "wss://example.livekit.cloud")
    args = parse("--sections", "paths", "--env-file", str(tmp_path / "none.env"))
    assert lab_command._stack_problem(args) is None


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    lab_command.configure(parser)
    args = parser.parse_args(argv)
    lab_command._resolve_sizes(args)
    return args


def test_quick_shrinks_every_size_an_explicit_flag_does_not_set() -> None:
    full = parse()
    assert (full.calls, full.turns, full.sweep_calls, full.sweep_turns) == (3, 3, 1, 2)
    assert full.sections == ["codec", "paths"] and full.synth_seconds == 4.0
    assert (full.think_ms, full.sweep_ms) == (900, [250, 2000])
    quick = parse("--quick", "--turns", "4")
    assert (quick.calls, quick.turns, quick.sweep_calls, quick.sweep_turns) == (1, 4, 1, 1)
    assert quick.synth_seconds == 2.0 and quick.sweep_ms == [250]
    assert parse("--quick", "--sweep-ms", "100", "3000").sweep_ms == [100, 3000]


def test_the_recorded_command_repeats_the_run() -> None:
    args = parse("--quick", "--sections", "paths", "--seed", "9", "--out", "x", "--sweep-ms")
    assert lab_command._command_line(args) == (
        "trunkline lab --sections paths --out x --calls 1 --turns 2 --think-ms 900 --sweep-ms "
        "--sweep-calls 1 --sweep-turns 1 --seed 9"
    )


def test_the_phases_are_the_main_timing_then_the_sweep() -> None:
    args = parse("--sweep-ms", "100", "--think-ms", "700", "--calls", "2", "--turns", "3")
    section = lab_command._paths_section(args)
    phases = section.phases  # type: ignore[attr-defined]
    assert [p.think for p in phases] == [
        "lognormal:median=700,p90=1400",
        "lognormal:median=100,p90=200",
    ]
    assert [p.main for p in phases] == [True, False]
    main, sweep = phases[0].plan, phases[1].plan
    assert (main.calls, main.turns, main.barge_in_turns) == (2, 3, {2})
    assert (sweep.calls, sweep.turns, sweep.barge_in_turns) == (1, 2, set())
    assert lab_command.think_spec(900) == "lognormal:median=900,p90=1800"
