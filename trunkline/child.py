"""Child processes of trunkline's own tools: a sidecar or simulator started, awaited, stopped.

``make demo``, ``trunkline lab`` and the benchmarks all run the real ``trunkline serve`` (and
sometimes ``trunkline sim``) as separate processes, so what they measure is the product as it
is deployed, not an in-process shortcut. This is the one place that knows how to start such a
process, wait until it answers HTTP, and stop it without leaving it behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

#: What makes the sidecar leave the embedded default (agent in-process, simulator as model),
#: or makes it public (then it would rightly refuse to answer with the simulator).
MODE_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "LIVEKIT_URL",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "PUBLIC_URL",
    "TRUNKLINE_TRUSTED_PROXIES",
    "TRUNKLINE_MODEL",
    "TRUNKLINE_SIM_URL",
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def trunkline_command(*args: str) -> list[str]:
    """``trunkline ARGS`` run by this interpreter (no reliance on PATH or the venv's scripts)."""
    return [sys.executable, "-m", "trunkline.cli", *args]


@contextlib.contextmanager
def child_process(
    cmd: Sequence[str],
    log_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    core: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` with its output in ``log_file`` (pinned to CPU ``core`` if given); on exit
    terminate it, and kill it if it has not gone within 15 s."""
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    with log_file.open("w") as log:
        proc = subprocess.Popen(
            list(cmd),
            env=dict(os.environ if env is None else env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass(frozen=True)
class RunningSidecar:
    """A ``trunkline serve`` child: where it answers, and its process and log, so a wait for it
    ends as soon as it has exited (a bad argument) instead of at the timeout."""

    url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        await wait_http(f"{self.url}/healthz", timeout_s, what="the sidecar", child=self)

    def exited(self) -> str | None:
        """Why the child is gone (its exit code and last log line), or None while it runs."""
        code = self.process.poll()
        if code is None:
            return None
        lines = self.log_file.read_text(errors="replace").strip().splitlines()
        return f"exited with code {code}: {lines[-1] if lines else '(no output)'} ({self.log_file})"


@contextlib.contextmanager
def embedded_sidecar(
    port: int, turn_log: Path, log_file: Path, extra: Sequence[str] = (), core: int | None = None
) -> Iterator[RunningSidecar]:
    """``trunkline serve`` on the embedded default, whatever this environment configures: its
    mode variables are dropped, an empty settings file stands in for ``.env.local`` and the
    simulator is asked for by name."""
    env = {k: v for k, v in os.environ.items() if k not in MODE_VARIABLES}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty_env:
        cmd = trunkline_command(
            "serve", "--port", str(port), "--env-file", empty_env.name, "--model", "sim",
            "--turn-log", str(turn_log), *extra,
        )  # fmt: skip
        with child_process(cmd, log_file, env=env, core=core) as proc:
            yield RunningSidecar(f"http://127.0.0.1:{port}", proc, log_file)


async def wait_http(
    url: str,
    timeout_s: float = 120.0,
    *,
    what: str = "the server",
    child: RunningSidecar | None = None,
) -> None:
    """Until ``url`` answers anything but a server error (a starting process refuses or 5xxs);
    raises RuntimeError at once if ``child``, the process that should answer, has exited."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if child is not None and (gone := child.exited()) is not None:
                raise RuntimeError(f"{what} at {url} {gone}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            await asyncio.sleep(0.25)
    raise TimeoutError(f"{what} at {url} did not answer within {timeout_s:.0f} s")


async def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    """Until the sidecar at base ``url`` answers its health check."""
    await wait_http(f"{url}/healthz", timeout_s, what="the sidecar")
