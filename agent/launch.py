"""``python agent.py``'s first steps, taken before anything imports LiveKit.

The worker's metrics (``trunkline.metrics`` and LiveKit's own) are recorded by several
processes — the worker and one job process per call — and ``prometheus_client`` adds them up
only in its multiprocess mode, which each process chooses when it first imports the library,
from ``PROMETHEUS_MULTIPROC_DIR``. Setting that here, first, puts the worker's own figures
(load, processes) in the same sum as its jobs'. LiveKit's worker serves the sum at
``:<TRUNKLINE_WORKER_METRICS_PORT>/metrics``: by default port 8082 under ``start``
(production), and off under the other commands unless the port is set.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Final

from trunkline.config import ConfigError, load_env, text

METRICS_PORT_SETTING: Final = "TRUNKLINE_WORKER_METRICS_PORT"
DEFAULT_METRICS_PORT: Final = 8082
MULTIPROC_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"


def command_of(argv: Sequence[str]) -> str | None:
    """The LiveKit CLI command in ``argv`` (without the program name)."""
    return next((a for a in argv if not a.startswith("-")), None)


def metrics_port(env: Mapping[str, str], command: str | None) -> int | None:
    """Where the worker serves ``/metrics``, or None; raises :class:`ConfigError`."""
    raw = text(env, METRICS_PORT_SETTING)
    if raw is None:
        return DEFAULT_METRICS_PORT if command == "start" else None
    if raw.lower() == "off":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError([f"{METRICS_PORT_SETTING}={raw!r} is not a TCP port (1-65535) or off"])
    return int(raw)


@contextlib.contextmanager
def metrics_directory(env: MutableMapping[str, str]) -> Iterator[None]:
    """A fresh ``PROMETHEUS_MULTIPROC_DIR`` for as long as the block runs (unless one is set:
    then it is the operator's, and left as it is)."""
    if env.get(MULTIPROC_DIR):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="trunkline-metrics-") as directory:
        env[MULTIPROC_DIR] = directory
        try:
            yield
        finally:
            del env[MULTIPROC_DIR]


def main() -> None:
    """``python agent.py ...``: the environment merged, the metrics directory, the worker."""
    # the environment wins over .env.local; job processes inherit the merged result
    os.environ.update(load_env())
    try:
        port = metrics_port(os.environ, command_of(sys.argv[1:]))
    except ConfigError as e:
        sys.exit(f"python agent.py: {e}")
    with metrics_directory(os.environ) if port is not None else contextlib.nullcontext():
        from agent.worker import main as run_worker  # imports LiveKit: only now

        run_worker()
