"""The load a worker reports to livekit-server, which decides whether it is offered calls."""

from __future__ import annotations

import pytest

from agent.worker import build_server, is_development


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dev"], True),
        (["dev", "--log-level", "debug"], True),
        (["start"], False),
        (["console", "--text"], False),
        ([], False),
    ],
)
def test_only_dev_runs_a_development_worker(argv: list[str], expected: bool) -> None:
    assert is_development(argv) is expected


def test_a_development_worker_reports_no_load_however_busy_the_machine() -> None:
    server = build_server({}, development=True)
    assert server.load_fnc is not None
    assert server.load_fnc() == 0.0  # type: ignore[call-arg]


def test_a_production_worker_keeps_livekits_cpu_load() -> None:
    assert build_server({}).load_fnc is None  # LiveKit's default: the machine's CPU
