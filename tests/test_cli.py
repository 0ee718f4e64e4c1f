"""The CLI's lazy dispatch: only the chosen subcommand's module is imported and run."""

from __future__ import annotations

import argparse
import sys
import types

import pytest

from trunkline import cli


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = types.ModuleType("trunkline_fake_cmd")
    calls: list[argparse.Namespace] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=1)

    def run(args: argparse.Namespace) -> int:
        calls.append(args)
        return 7

    mod.configure = configure  # type: ignore[attr-defined]
    mod.run = run  # type: ignore[attr-defined]
    mod.calls = calls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trunkline_fake_cmd", mod)
    return mod


def test_runs_chosen_command_with_its_options(fake_module: types.ModuleType) -> None:
    table = {"fake": cli.Command("trunkline_fake_cmd", "a fake job")}
    assert cli.main(["fake", "--port", "9"], commands=table) == 7
    (args,) = fake_module.calls
    assert args.port == 9


def test_unchosen_modules_are_not_imported(fake_module: types.ModuleType) -> None:
    table = {
        "fake": cli.Command("trunkline_fake_cmd", "a fake job"),
        "broken": cli.Command("trunkline_module_that_does_not_exist", "never imported"),
    }
    assert cli.main(["fake"], commands=table) == 7


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    table = {"alpha": cli.Command("nowhere", "first job"), "beta": cli.Command("nowhere", "2nd")}
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"], commands=table)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "first job" in out and "beta" in out


def test_missing_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([], commands={"alpha": cli.Command("nowhere", "x")})
    assert exc.value.code == 2


def test_a_command_whose_lab_library_is_missing_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trunkline_lab_probe", None)  # an import that fails …
    table = {"measure": cli.Command("trunkline_lab_probe", "needs a lab library")}
    # … with ModuleNotFoundError naming a library that is not ours, as `import scipy` would
    with pytest.raises(SystemExit) as exc:
        cli.main(["measure"], commands=table)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "trunkline measure: needs 'trunkline_lab_probe'" in err
    assert "pip install 'trunkline[lab]'" in err


def test_a_missing_module_of_our_own_is_a_bug_and_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"gone": cli.Command("lab.no_such_command_module", "a typo in the table")}
    with pytest.raises(ModuleNotFoundError):
        cli.main(["gone"], commands=table)
