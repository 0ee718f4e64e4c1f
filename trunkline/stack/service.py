"""One server process of the stack: started with its log in a file, checked ready, stopped.

Synchronous on purpose: the stack is started once per test session, per ``trunkline lab`` run
or per ``trunkline stack``, often before any event loop exists, and a readiness poll of a few
hundred milliseconds has nothing to overlap with.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: how long a stopping server gets after SIGTERM before a second one (livekit-server drains on
#: the first and stops at once on the second), and after that before it is killed
DRAIN_S = 0.25
STOP_GRACE_S = 5.0
LOG_TAIL_LINES = 60


class ServiceFailed(RuntimeError):
    """A server exited or never became ready; the message carries the end of its log."""


@dataclass
class Service:
    name: str
    command: Sequence[str]
    log_path: Path
    ready: Callable[[], bool]
    """True once the server answers; polled until ``start``'s timeout."""
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, timeout_s: float = 30.0) -> None:
        """Start and wait until ready. Call it from a long-lived thread (the main one): the
        server is killed when the thread that started it ends (see :func:`_orphan_proof`)."""
        self.launch()
        self.wait_ready(timeout_s)

    def launch(self) -> None:
        """Start the process without waiting: several services then start side by side, each
        awaited with :meth:`wait_ready` (the same thread rule as :meth:`start` applies)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                _orphan_proof(self.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(os.environ if self.env is None else self.env),
                # its own process group: a Ctrl-C at the terminal reaches the stack's owner,
                # which then stops the servers in order, instead of all of them at once
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until the launched process answers ``ready``; stopped and :class:`ServiceFailed`
        if it exits first or takes longer than ``timeout_s``."""
        if self.process is None:
            raise ServiceFailed(f"{self.name} was never launched")
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServiceFailed(
                    f"{self.name} exited with status {code} while starting:\n{self.log_tail()}"
                )
            if self.ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceFailed(
                    f"{self.name} was not ready within {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, drain_s: float = DRAIN_S, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM; a second SIGTERM after ``drain_s``; SIGKILL after ``grace_s`` more."""
        proc = self.process
        if proc is None:
            return
        for wait_s in (drain_s, grace_s):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait_s)
        if proc.poll() is None:
            self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL at once: a crash, as a failure test wants it."""
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        self.process = None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _orphan_proof(command: Sequence[str]) -> list[str]:
    """``command`` under util-linux's ``setpriv --pdeathsig KILL`` where it exists, so a server
    never outlives its owner: a test run or ``trunkline stack`` killed outright (SIGKILL, an
    out-of-memory kill) leaves no Redis or livekit-server holding ports behind."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(command)
    return [setpriv, "--pdeathsig", "KILL", "--", *command]
