"""The job process's prewarm does, before any job, what the first reply would do on its loop."""

from __future__ import annotations

import subprocess
import sys

from livekit import agents

from agent.worker import build_server

PROBE = """
import sys
from livekit.agents.utils import http_context
from livekit.agents.tokenize import _basic_hyphenator
from agent.prewarm import LAZY_MODULES, prewarm

class Proc:
    pid = 1
    userdata = {}

before = [m for m in LAZY_MODULES if m in sys.modules]
prewarm(Proc())
print("before", before)
print("imported", all(m in sys.modules for m in LAZY_MODULES))
print("tls", http_context._ssl_context_for.cache_info().currsize)
print("hyphenator", _basic_hyphenator._get_hyphenator.cache_info().currsize)
"""


def test_prewarm_imports_and_builds_what_jobs_would_build_on_their_loop() -> None:
    """In a fresh interpreter, as a job process is: nothing loaded before, everything after."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.splitlines() == [
        "before []",
        "imported True",
        "tls 1",
        "hyphenator 1",
    ], done.stderr


def test_the_worker_prewarms_its_job_processes() -> None:
    server = build_server({}, job_executor_type=agents.JobExecutorType.THREAD)
    from agent.prewarm import prewarm

    assert server.setup_fnc is prewarm
