"""``trunkline lab`` end to end on small inputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from lab.speech import bundled_speech_files
from trunkline import cli, lab_command


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
    report = (tmp_path / "REPORT.md").read_text()
    assert doc["environment"]["command"] == (
        f"trunkline lab --sections codec --speech {clip} {clip} --out {tmp_path} "
        "--opus-bitrate 32000 --synth-seconds 1.5"
    )
    for png in doc["figures"]["codec_chains"]:
        assert (tmp_path / png).is_file() and f"]({png})" in report


def test_lab_refuses_unreadable_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lab", "--speech", str(tmp_path / "nope.wav"), "--out", str(tmp_path)]) == 2
    assert "cannot decode" in capsys.readouterr().err
    assert not (tmp_path / "lab.json").exists()


def test_lab_refuses_nonsense_settings(tmp_path: Path) -> None:
    assert cli.main(["lab", "--synth-seconds", "0", "--out", str(tmp_path)]) == 2
    assert cli.main(["lab", "--opus-bitrate", "10", "--out", str(tmp_path)]) == 2
    assert cli.main(["lab", "--calls", "0", "--out", str(tmp_path)]) == 2
    assert cli.main(["lab", "--quick", "--source-turns", "0", "--out", str(tmp_path)]) == 2
    assert not (tmp_path / "lab.json").exists()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    lab_command.configure(parser)
    args = parser.parse_args(argv)
    lab_command._resolve_sizes(args)
    return args


def test_quick_shrinks_every_size_an_explicit_flag_does_not_set() -> None:
    full = parse()
    assert (full.calls, full.turns, full.ab_calls, full.source_turns) == (3, 3, 2, 6)
    assert full.sections == ["codec", "live", "pacer"] and full.synth_seconds == 4.0
    quick = parse("--quick", "--turns", "4")
    assert (quick.calls, quick.turns, quick.ab_calls, quick.source_turns) == (1, 4, 1, 3)
    assert quick.synth_seconds == 2.0


def test_the_recorded_command_repeats_the_run() -> None:
    args = parse("--quick", "--sections", "live", "--seed", "9", "--out", "x")
    assert lab_command._command_line(args) == (
        "trunkline lab --sections live --out x --opus-bitrate 32000 --synth-seconds 2.0 "
        "--calls 1 --turns 2 --ab-calls 1 --source-turns 3 --seed 9"
    )
