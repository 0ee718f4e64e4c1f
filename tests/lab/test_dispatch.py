"""Re-dispatch's signal: the job requests the worker logs, read as the log grows."""

from __future__ import annotations

from pathlib import Path

from lab.dispatch import JOB_REQUEST, Watch, _LogTail, named


def test_only_whole_lines_written_after_the_start_are_read(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(f'old {JOB_REQUEST} {{"room": "r0"}}\n')
    tail = _LogTail(log)
    assert tail.new_lines() == []
    with log.open("a") as f:
        f.write(f'{JOB_REQUEST} {{"room": "r1"}}\npartial li')
    assert tail.new_lines() == [f'{JOB_REQUEST} {{"room": "r1"}}']
    with log.open("a") as f:
        f.write("ne\n")
    assert tail.new_lines() == ["partial line"]
    assert _LogTail(tmp_path / "later.log").new_lines() == []


async def test_without_a_dispatcher_a_watch_does_nothing() -> None:
    async with Watch(None, named("room")) as watch:
        pass
    assert watch.redispatched == 0 and watch.failure is None
