"""The product's processes as the local stack runs them: the agent worker, the sidecar, a simulator.

``trunkline stack`` (for people) and ``trunkline lab`` (measurements) start the same programs a
deployment runs — ``python agent.py dev`` registered with LiveKit by name, ``trunkline serve``
in bridge mode, ``trunkline sim`` — as :class:`~trunkline.stack.service.Service` children with a
log file each, ready when they say so in their own protocol. The lab starts two of each (one
per pacer arm), so names, agent names and extra settings are parameters here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from trunkline.child import trunkline_command
from trunkline.stack.binaries import ROOT
from trunkline.stack.probes import http_ok
from trunkline.stack.service import Service

#: what the worker prints once LiveKit has accepted its registration
WORKER_REGISTERED = "registered worker"
WORKER_START_S = 90.0
SIDECAR_START_S = 60.0
SIM_START_S = 60.0


def product_env(
    livekit: Mapping[str, str], agent_name: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment with the stack's LiveKit settings (no other LiveKit's), the
    agent's name and ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(livekit)
    env["AGENT_NAME"] = agent_name
    env.update(extra or {})
    return env


def _log_says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def worker_service(env: Mapping[str, str], run: Path, name: str = "worker") -> Service:
    """``python agent.py dev``, ready once LiveKit accepted its registration."""
    log = run / f"{name}.log"
    return Service(
        name,
        [sys.executable, str(ROOT / "agent.py"), "dev"],
        log,
        lambda: _log_says(log, WORKER_REGISTERED),
        env=env,
    )


def sidecar_service(
    host: str,
    port: int,
    env: Mapping[str, str],
    run: Path,
    name: str = "sidecar",
    args: Sequence[str] = (),
    bind: str | None = None,
) -> Service:
    """``trunkline serve ARGS`` on ``host:port`` (bridge mode when ``env`` has LiveKit's
    settings, else local mode), listening on ``bind`` when given: ``trunkline stack`` binds
    every address so that a browser on this machine reaches it on loopback, where it may use
    the microphone over plain http (``http://localhost`` is a secure context;
    ``http://<address>`` is not)."""
    return Service(
        name,
        trunkline_command(
            "serve", "--host", bind or host, "--port", str(port), "--env-file", os.devnull, *args
        ),
        run / f"{name}.log",
        lambda: http_ok(f"http://{host}:{port}/healthz"),
        env=env,
    )


def sim_service(port: int, args: Sequence[str], run: Path, name: str = "sim") -> Service:
    """``trunkline sim`` on loopback ``port`` with ``args``; ready once it listens (it has no
    health page: an unauthenticated request to its endpoint is refused, which is an answer)."""
    log = run / f"{name}.log"
    return Service(
        name,
        trunkline_command("sim", "--host", "127.0.0.1", "--port", str(port), *args),
        log,
        lambda: _log_says(log, "simulator listening"),
    )
