"""The LiveKit agent worker: registration by name, one model source per worker process.

``python agent.py dev|start|console|connect|download-files`` runs LiveKit's CLI on the server
built here. The worker registers with an agent name (``AGENT_NAME``, default ``trunkline``), so
LiveKit dispatches it only when asked by that name: from a browser token's room configuration,
a SIP dispatch rule, or the Twilio bridge's dispatch.

Jobs run in their own processes (LiveKit's default, forked from a forkserver started with the
worker), so a model simulator started per job would mean one simulator — Silero, espeak-ng, an
HTTP server — per call. Without ``OPENAI_API_KEY`` the worker's main process therefore starts
one simulator before LiveKit's CLI starts anything, and exports its URL as ``TRUNKLINE_SIM_URL``
so every job process (inheriting the environment) shares it; with ``TRUNKLINE_SIM_URL`` already
set, that simulator is used instead. Commands that run no agent (``download-files``, help)
start nothing.

The simulator answers only where nobody real calls: ``start`` is how production runs the worker,
so ``start`` without ``OPENAI_API_KEY`` refuses to run rather than answer customers with a
scripted voice, unless the simulator is asked for by name (``TRUNKLINE_MODEL=sim``). ``dev``,
``console`` and ``connect`` are for development and take the simulator by default.

With a metrics port (``agent.launch``), LiveKit's worker serves Prometheus metrics — its own and
``trunkline.metrics`` from every job process — at ``/metrics``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence

from livekit.agents import AgentServer, JobExecutorType, cli

from agent.entrypoint import entrypoint, pacer_setting
from agent.launch import command_of, metrics_directory, metrics_port
from agent.model import ModelSettings, choose_model
from agent.prewarm import prewarm
from trunkline.config import ConfigError, agent_name, load_env, text

logger = logging.getLogger(__name__)

#: LiveKit CLI commands that run agent sessions and so need a model
AGENT_COMMANDS = frozenset({"console", "dev", "start", "connect"})


def build_server(
    env: Mapping[str, str],
    *,
    job_executor_type: JobExecutorType | None = None,
    development: bool = False,
    prometheus_port: int | None = None,
) -> AgentServer:
    """The worker; LiveKit's URL and credentials come from ``LIVEKIT_*`` in the environment.

    A ``development`` worker reports no load. LiveKit's default load is the machine's CPU, and
    livekit-server offers a job only to a worker whose load is under its target (0.7): a
    developer's worker shares the machine with the servers and the browser calling it, and on
    a busy machine every call would be left without an agent. A development worker takes every
    job offered anyway (LiveKit's threshold in dev mode is infinite), so its load says nothing a
    scheduler could use. ``start`` keeps LiveKit's load, which balances real deployments.
    """
    server = (
        AgentServer(setup_fnc=prewarm, prometheus_port=prometheus_port)
        if job_executor_type is None
        else AgentServer(
            setup_fnc=prewarm,
            job_executor_type=job_executor_type,
            prometheus_port=prometheus_port,
        )
    )
    if development:
        server.load_fnc = _no_load
    server.rtc_session(entrypoint, agent_name=agent_name(env))
    return server


def _no_load() -> float:
    return 0.0


def runs_agents(argv: Sequence[str]) -> bool:
    """Whether the command line (without the program name) runs agent sessions."""
    return command_of(argv) in AGENT_COMMANDS


def is_development(argv: Sequence[str]) -> bool:
    """Whether the command line runs a development worker (``dev``)."""
    return command_of(argv) == "dev"


@contextlib.contextmanager
def model_for_jobs(
    env: MutableMapping[str, str], *, production: bool = False
) -> Iterator[str | None]:
    """Make sure every job of this process finds a model, starting the simulator if needed.

    The simulator serves from a thread of this process for as long as the block runs; its URL
    is put in ``env`` (``os.environ`` for real use) so job processes inherit it, and yielded
    (None when OpenAI or an already running simulator answers instead). ``production``
    (``start``): refuse the simulator unless ``TRUNKLINE_MODEL=sim`` asks for it.
    """
    problems: list[str] = []
    settings = ModelSettings.from_env(env, problems)
    if settings is not None:
        settings = choose_model(
            settings,
            text(env, "TRUNKLINE_MODEL"),
            real_callers="`start` runs the worker for production calls" if production else None,
            problems=problems,
            ask_for_sim="TRUNKLINE_MODEL=sim",
        )
    if settings is None:
        raise ConfigError(problems)
    if settings.api_key is not None or settings.sim_url is not None:
        yield None
        return
    # imported here: it loads Silero (which must happen on the main thread) and espeak-ng,
    # which a worker backed by OpenAI never needs
    from agent.sim.embedded import SimulatorThread

    with SimulatorThread(settings.sim) as url:
        env["TRUNKLINE_SIM_URL"] = url
        try:
            yield url
        finally:
            del env["TRUNKLINE_SIM_URL"]


def main() -> None:
    """``python agent.py ...``: LiveKit's CLI, with ``.env.local`` read and a model ready."""
    # the environment wins over .env.local; job processes inherit the merged result
    os.environ.update(load_env())
    command = command_of(sys.argv[1:])
    try:
        port = metrics_port(os.environ, command)
    except ConfigError as e:
        sys.exit(f"python agent.py: {e}")
    server = build_server(os.environ, development=command == "dev", prometheus_port=port)
    if not runs_agents(sys.argv[1:]):
        cli.run_app(server)
        return
    with contextlib.ExitStack() as stack:
        if port is not None:
            stack.enter_context(metrics_directory(os.environ))
        try:
            problems: list[str] = []
            pacer_setting(os.environ, problems)
            if problems:
                raise ConfigError(problems)
            sim_url = stack.enter_context(model_for_jobs(os.environ, production=command == "start"))
        except ConfigError as e:
            sys.exit(f"python agent.py: {e}")
        if sim_url is not None:
            # said once logging is set up, which LiveKit's CLI does when it starts the worker
            server.once(
                "worker_started",
                lambda: logger.info(
                    "OPENAI_API_KEY is not set: the local simulator at %s answers this "
                    "worker's calls (set OPENAI_API_KEY to use OpenAI)",
                    sim_url,
                ),
            )
        cli.run_app(server)
