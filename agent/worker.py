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
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence

from livekit.agents import AgentServer, JobExecutorType, cli

from agent.entrypoint import entrypoint, pacer_setting
from agent.model import ModelSettings
from trunkline.config import ConfigError, agent_name, load_env

logger = logging.getLogger(__name__)

#: LiveKit CLI commands that run agent sessions and so need a model
AGENT_COMMANDS = frozenset({"console", "dev", "start", "connect"})


def build_server(
    env: Mapping[str, str], *, job_executor_type: JobExecutorType | None = None
) -> AgentServer:
    """The worker; LiveKit's URL and credentials come from ``LIVEKIT_*`` in the environment."""
    server = (
        AgentServer()
        if job_executor_type is None
        else AgentServer(job_executor_type=job_executor_type)
    )
    server.rtc_session(entrypoint, agent_name=agent_name(env))
    return server


def runs_agents(argv: Sequence[str]) -> bool:
    """Whether the command line (without the program name) runs agent sessions."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return command in AGENT_COMMANDS


@contextlib.contextmanager
def model_for_jobs(env: MutableMapping[str, str]) -> Iterator[str | None]:
    """Make sure every job of this process finds a model, starting the simulator if needed.

    The simulator serves from a thread of this process for as long as the block runs; its URL
    is put in ``env`` (``os.environ`` for real use) so job processes inherit it, and yielded
    (None when OpenAI or an already running simulator answers instead).
    """
    problems: list[str] = []
    settings = ModelSettings.from_env(env, problems)
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
    server = build_server(os.environ)
    if not runs_agents(sys.argv[1:]):
        cli.run_app(server)
        return
    with contextlib.ExitStack() as stack:
        try:
            problems: list[str] = []
            pacer_setting(os.environ, problems)
            if problems:
                raise ConfigError(problems)
            sim_url = stack.enter_context(model_for_jobs(os.environ))
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
