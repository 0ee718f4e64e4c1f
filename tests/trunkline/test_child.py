"""Child processes the demo, the lab and the benchmarks start: a sidecar that cannot start is
reported as such at once, with its own last words, not after the readiness timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from trunkline.child import embedded_sidecar, free_port


async def test_a_sidecar_that_exits_at_start_is_reported_at_once_with_why(tmp_path: Path) -> None:
    log = tmp_path / "sidecar.log"
    bad = ["--sim-script", str(tmp_path / "missing.json")]
    # the readiness wait would take 110 s; the exit ends it long before that bound
    with (
        embedded_sidecar(free_port(), tmp_path / "turns.jsonl", log, bad) as sidecar,
        pytest.raises(RuntimeError, match=r"exited with code 2: .*missing\.json"),
    ):
        await sidecar.wait_ready(timeout_s=110)
