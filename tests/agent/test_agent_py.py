"""``python agent.py ...`` as users and the Docker build run it: real subprocesses.

They run inside the test process's private network namespace (subprocesses inherit it), where
nothing beyond the namespace's own addresses exists: "works offline" is what they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.waiting import eventually
from trunkline.child import free_port
from trunkline.stack import LocalStack
from trunkline.turnlog import read_turnlogs

from .room_rig import Caller, audible_ms

pytestmark = pytest.mark.netns

ROOT = Path(__file__).parents[2]
AGENT_PY = str(ROOT / "agent.py")
#: a job process is forked from LiveKit's forkserver, which preloads the plugins first
JOB_START_S = 60.0


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no LiveKit, OpenAI or simulator settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIVEKIT_", "OPENAI_", "TRUNKLINE_", "AGENT_NAME"))
    }
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "400"  # rich wraps what it prints at the terminal's width
    env.update(extra)
    return env


def test_download_files_succeeds_offline_and_starts_no_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, AGENT_PY, "download-files"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    # every plugin the worker loads was asked for its files...
    assert "Finished downloading files for livekit.plugins.openai" in output
    assert "Finished downloading files for livekit.plugins.pacer" in output
    # ...and the simulator (which would have loaded Silero) was never imported, let alone run
    assert "silero" not in output and "simulator" not in output


@contextlib.asynccontextmanager
async def agent_py(
    args: list[str], env: dict[str, str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        AGENT_PY,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def printed(process: asyncio.subprocess.Process, wanted: bytes, seen: bytearray) -> None:
    """Read the process's output into ``seen`` until a line holds ``wanted``."""
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            raise AssertionError(f"exited before printing {wanted!r}:\n{seen.decode()}")
        seen += line
        if wanted in line:
            return


@pytest.mark.slow
async def test_dev_starts_its_own_simulator_and_answers_a_browser_caller(
    livekit_stack: LocalStack, tmp_path: Path
) -> None:
    turn_log = tmp_path / "turns.jsonl"
    metrics_port = free_port()
    env = clean_env(
        tmp_path,
        **livekit_stack.env,
        TRUNKLINE_TURN_LOG=str(turn_log),
        TRUNKLINE_WORKER_METRICS_PORT=str(metrics_port),
    )
    seen = bytearray()
    async with agent_py(["dev"], env) as process:
        async with asyncio.timeout(JOB_START_S):
            await printed(process, b"registered worker", seen)
        async with Caller.joined(livekit_stack, "browser", "web-dev") as caller:
            await caller.hears_speech(800, within_s=JOB_START_S)
            assert audible_ms(caller.heard()) >= 800
        # the caller left: the job ends in its process and writes the greeting's turn
        await eventually(lambda: turn_log.exists() and read_turnlogs([turn_log]).records, 20)
        # the worker serves what its job process counted, beside LiveKit's own figures
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        samples = await eventually_scraped(url, 'trunkline_calls_ended_total{path="webrtc"')
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    text = (seen + output).decode(errors="replace")
    assert process.returncode == 0, text
    assert "the local simulator at http://127.0.0.1:" in text
    # the job's lines name the call (LiveKit's formatter prints the fields the job adds)
    assert '"call_id": "web-dev"' in text and '"path": "webrtc"' in text
    (turn,) = read_turnlogs([turn_log]).records
    assert (turn.path, turn.call_id, turn.turn) == ("webrtc", "web-dev", 0)
    assert samples[("trunkline_calls_total", (("path", "webrtc"),))] == 1
    ended = ("trunkline_calls_ended_total", (("path", "webrtc"), ("reason", "caller")))
    assert samples[ended] == 1
    pacing = ("trunkline_turn_stage_seconds_count", (("path", "webrtc"), ("stage", "pacing")))
    assert samples[pacing] == 1  # the greeting's
    assert any(name.startswith("lk_agents_") for name, _ in samples)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def eventually_scraped(url: str, wanted: str, within_s: float = 20.0) -> Samples:
    """The metrics at ``url`` once their text contains ``wanted`` (a job process writes its
    figures when it records them; the worker reads them at each scrape)."""

    async def scrape() -> str | None:
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(url) as resp:
                text = await resp.text()
            return text if wanted in text else None
        return None

    async with aiohttp.ClientSession() as http:
        text = await eventually(scrape, within_s=within_s, every_s=0.2)
    assert text is not None
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def read_until(fd: int, wanted: bytes, seconds: float, seen: bytearray, since: int = 0) -> bool:
    """Read a pseudo-terminal into ``seen`` until ``wanted`` shows up in what was printed
    after offset ``since`` (colour and cursor codes ignored)."""
    deadline = time.monotonic() + seconds
    while wanted not in ANSI.sub(b"", seen[since:]):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return wanted in ANSI.sub(b"", seen[since:])
    return True


def type_line(fd: int, text: str, seen: bytearray) -> None:
    """Type like a person: each key once the prompt shows the previous one.

    The console's key reader switches the terminal's mode around every read, which drops
    keys typed faster than it redraws.
    """
    for end in range(1, len(text) + 1):
        since = len(seen)
        os.write(fd, text[end - 1].encode())
        assert read_until(fd, f"❯ {text[:end]}█".encode(), 10, seen, since)
    os.write(fd, b"\n")  # the reader's Enter (LF; a terminal in cbreak mode maps CR to it)


def exit_status(pid: int, seconds: float) -> int | None:
    """The child's exit code once it exits (None: still running after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


@pytest.mark.slow
@pytest.mark.skipif(
    # CI installs PortAudio (.ci/run), so there this test always runs: it may only be skipped
    # on a developer's machine that lacks the system library
    ctypes.util.find_library("portaudio") is None and not os.environ.get("CI"),
    reason="console imports sounddevice, which needs PortAudio (Debian: libportaudio2)",
)
def test_console_text_mode_talks_to_the_agent(tmp_path: Path) -> None:
    """No LiveKit server at all: typed text in, the simulator's scripted reply out."""
    env = clean_env(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else may run in a forked test process
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, AGENT_PY, "console", "--text"], env)
    seen = bytearray()
    status: int | None = None
    try:
        # the greeting shows once the prompt reads keys (typed earlier, they would be flushed)
        assert read_until(fd, b"How can I help you today?", 60, seen), seen.decode(errors="replace")
        type_line(fd, "hello there", seen)
        assert read_until(fd, b"scripted simulator", 60, seen), seen.decode(errors="replace")
        os.kill(pid, signal.SIGINT)
        assert read_until(fd, b"shutting down worker", 30, seen), seen.decode(errors="replace")
        status = exit_status(pid, 30)
        assert status == 0, seen.decode(errors="replace")
    finally:
        if status is None:  # still running
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
