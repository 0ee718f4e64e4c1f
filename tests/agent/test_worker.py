"""The worker's set-up: which commands get a model, where it comes from, the agent's name."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from livekit import agents, api, rtc

from agent.entrypoint import JobSettings
from agent.launch import metrics_directory, metrics_port
from agent.room_actions import sip_transfer_target
from agent.sim.embedded import run_simulator
from agent.worker import build_server, main, model_for_jobs, runs_agents
from tests.realstack.clients import joined, participant, registered
from trunkline.config import ConfigError
from trunkline.stack import LocalStack


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dev"], True),
        (["start", "--log-level", "info"], True),
        (["console", "--text"], True),
        (["connect", "--room", "r"], True),
        (["download-files"], False),
        (["--help"], False),
        ([], False),
    ],
)
def test_only_commands_that_run_agents_get_a_model(argv: list[str], expected: bool) -> None:
    assert runs_agents(argv) is expected


def test_with_openai_or_a_running_simulator_nothing_is_started() -> None:
    for env in ({"OPENAI_API_KEY": "sk-test"}, {"TRUNKLINE_SIM_URL": "http://127.0.0.1:9/v1"}):
        before = dict(env)
        with model_for_jobs(env) as started:
            assert started is None
            assert env == before


async def test_without_either_one_simulator_serves_the_jobs_while_the_worker_runs() -> None:
    env: dict[str, str] = {}
    with model_for_jobs(env) as started:
        assert started is not None and env["TRUNKLINE_SIM_URL"] == started
        # the realtime endpoint wants a bearer token: its refusal shows it is there
        async with (
            aiohttp.ClientSession() as http,
            http.get(started + "/realtime?model=gpt-realtime") as response,
        ):
            assert response.status == 401
    assert "TRUNKLINE_SIM_URL" not in env
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(started + "/realtime"):
            pass


def test_a_malformed_model_setting_stops_the_worker_before_it_starts() -> None:
    with (
        pytest.raises(ConfigError, match="OPENAI_BASE_URL"),
        model_for_jobs({"OPENAI_BASE_URL": "not a url"}),
    ):
        pass


def test_python_agent_py_stops_on_a_malformed_setting_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env.local here
    monkeypatch.setattr(sys, "argv", ["agent.py", "start"])
    monkeypatch.setenv("OPENAI_BASE_URL", "openai.example.com")
    with pytest.raises(SystemExit) as exc:
        main()
    assert str(exc.value.code).splitlines() == [
        "python agent.py: invalid configuration:",
        "  - OPENAI_BASE_URL='openai.example.com' is not an http(s):// URL with a host",
    ]


def test_start_is_production_and_refuses_the_simulator_unless_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env.local here
    monkeypatch.setattr(sys, "argv", ["agent.py", "start"])
    for name in ("OPENAI_API_KEY", "TRUNKLINE_MODEL", "TRUNKLINE_SIM_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRUNKLINE_WORKER_METRICS_PORT", "off")
    with pytest.raises(SystemExit) as exc:
        main()
    assert str(exc.value.code).splitlines() == [
        "python agent.py: invalid configuration:",
        "  - OPENAI_API_KEY is not set, and `start` runs the worker for production calls: real "
        "callers would be answered by the offline simulator. Set OPENAI_API_KEY, or choose the "
        "simulator on purpose with TRUNKLINE_MODEL=sim",
    ]
    with (
        pytest.raises(ConfigError, match="`start` runs the worker"),
        model_for_jobs({}, production=True),
    ):
        pass


async def test_start_runs_the_simulator_when_it_is_asked_for_by_name() -> None:
    env = {"TRUNKLINE_MODEL": "sim", "OPENAI_API_KEY": "sk-test"}
    with model_for_jobs(env, production=True) as started:
        assert started is not None and env["TRUNKLINE_SIM_URL"] == started
        # and the jobs, which read the same environment, use it rather than OpenAI
        job = JobSettings.from_env(env)
        assert job.model.api_key is None and job.model.sim_url == started


def test_the_worker_s_metrics_port() -> None:
    assert metrics_port({}, "start") == 8082
    assert metrics_port({}, "dev") is None
    assert metrics_port({"TRUNKLINE_WORKER_METRICS_PORT": "9100"}, "dev") == 9100
    assert metrics_port({"TRUNKLINE_WORKER_METRICS_PORT": "off"}, "start") is None
    for bad in ("0", "70000", "http"):
        with pytest.raises(ConfigError, match="is not a TCP port"):
            metrics_port({"TRUNKLINE_WORKER_METRICS_PORT": bad}, "start")


def test_job_processes_share_a_metrics_directory_for_as_long_as_the_worker_runs() -> None:
    env: dict[str, str] = {}
    with metrics_directory(env):
        directory = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        assert directory.is_dir()
    assert "PROMETHEUS_MULTIPROC_DIR" not in env and not directory.exists()
    mine = {"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics"}
    with metrics_directory(mine):
        assert mine == {"PROMETHEUS_MULTIPROC_DIR": "/srv/metrics"}  # the operator's own


def test_a_job_needs_openai_or_the_worker_s_simulator() -> None:
    with pytest.raises(ConfigError, match="neither OPENAI_API_KEY nor TRUNKLINE_SIM_URL"):
        JobSettings.from_env({})
    settings = JobSettings.from_env(
        {"TRUNKLINE_SIM_URL": "http://127.0.0.1:9/v1", "TRUNKLINE_TURN_LOG": "turns.jsonl"}
    )
    assert settings.model.sim_url == "http://127.0.0.1:9/v1"
    assert settings.turn_log == "turns.jsonl"
    assert JobSettings.from_env({"OPENAI_API_KEY": "sk-test"}).turn_log is None


def test_the_pacer_is_on_unless_turned_off_for_measurement() -> None:
    model = {"OPENAI_API_KEY": "sk-test"}
    assert JobSettings.from_env(model).pacer
    assert JobSettings.from_env({**model, "TRUNKLINE_PACER": "on"}).pacer
    assert not JobSettings.from_env({**model, "TRUNKLINE_PACER": "OFF"}).pacer
    with pytest.raises(ConfigError, match="TRUNKLINE_PACER='maybe' must be on or off"):
        JobSettings.from_env({**model, "TRUNKLINE_PACER": "maybe"})


def test_sip_transfer_targets_are_uris() -> None:
    assert sip_transfer_target("+15551234567") == "tel:+15551234567"
    assert sip_transfer_target("tel:+15551234567") == "tel:+15551234567"
    assert sip_transfer_target("sip:desk@pbx.example.com") == "sip:desk@pbx.example.com"


@pytest.mark.netns
async def test_the_worker_registers_under_agent_name(
    livekit_env: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room that asks for ``support`` gets this worker's agent, named so."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("AGENT_NAME", "support")
    async with run_simulator() as sim:
        # the job reads its settings from the environment, as a job process would
        monkeypatch.setenv("TRUNKLINE_SIM_URL", sim.base_url)
        server = build_server(os.environ, job_executor_type=agents.JobExecutorType.THREAD)
        await dispatched_by_name(server, livekit_env)


async def dispatched_by_name(server: agents.AgentServer, stack: LocalStack) -> None:
    task = asyncio.create_task(server.run(devmode=True))
    try:
        await registered(server)
        wanted = api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name="support")])
        async with joined(stack, "caller", "support-1", room_config=wanted) as caller:
            agent = await participant(
                caller, lambda p: p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT, 30.0
            )
            await participant(caller, lambda p: "lk.agent.name" in p.attributes, 30.0)
            assert agent.attributes["lk.agent.name"] == "support"
    finally:
        await server.aclose()
        with contextlib.suppress(asyncio.CancelledError):
            await task
