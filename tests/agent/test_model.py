"""The model factory: OpenAI when a key is set, else the simulator, started once per process."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from agent.model import DEFAULT_MODEL, DEFAULT_VOICE, SIM_API_KEY, ModelFactory, ModelSettings
from agent.sim.options import SimOptions
from agent.sim.timing import ThinkTime
from tests.waiting import eventually


def settings(env: dict[str, str], sim: SimOptions | None = None) -> ModelSettings:
    problems: list[str] = []
    result = ModelSettings.from_env(env, problems, sim=sim)
    assert result is not None and problems == []
    return result


def test_settings_from_env_defaults_and_empty_values() -> None:
    s = settings({"OPENAI_API_KEY": "  ", "OPENAI_REALTIME_MODEL": "", "OPENAI_BASE_URL": ""})
    assert s.api_key is None and s.model == DEFAULT_MODEL and s.voice == DEFAULT_VOICE
    assert s.base_url == "https://api.openai.com/v1"
    assert s.sim_url is None and s.sim == SimOptions()


def test_settings_from_env_reads_every_value() -> None:
    sim = SimOptions(think=ThinkTime.fixed(10), seed=3)
    s = settings(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_REALTIME_MODEL": "gpt-realtime-mini",
            "OPENAI_VOICE": "cedar",
            "OPENAI_BASE_URL": "https://gateway.example.com/v1",
            "TRUNKLINE_SIM_URL": "http://127.0.0.1:8765/v1",
        },
        sim=sim,
    )
    assert (s.api_key, s.model, s.voice) == ("sk-test", "gpt-realtime-mini", "cedar")
    assert s.base_url == "https://gateway.example.com/v1"
    assert s.sim_url == "http://127.0.0.1:8765/v1" and s.sim is sim


def test_every_malformed_url_is_reported_once() -> None:
    problems: list[str] = []
    env = {"TRUNKLINE_SIM_URL": "127.0.0.1:8765", "OPENAI_BASE_URL": "ftp://x/v1"}
    assert ModelSettings.from_env(env, problems) is None
    assert len(problems) == 2
    assert problems[0].startswith("OPENAI_BASE_URL='ftp://x/v1'")
    assert problems[1].startswith("TRUNKLINE_SIM_URL='127.0.0.1:8765'")


async def test_with_a_key_openai_answers_and_no_simulator_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.model")
    key = ModelSettings(api_key="sk-test", model="gpt-realtime")
    async with ModelFactory(key) as f:
        assert not f.uses_simulator and f.simulator is None and f.base_url is None
        model = f.create()
        try:
            assert model.model == "gpt-realtime"
            assert model.provider == "api.openai.com"
        finally:
            await model.aclose()
    gateway = ModelSettings(api_key="sk-test", base_url="https://gateway.example.com/v1")
    async with ModelFactory(gateway) as f:
        model = f.create()
        try:
            assert model.provider == "gateway.example.com"
        finally:
            await model.aclose()
    assert "OpenAI Realtime (gpt-realtime" in caplog.text
    assert "simulator" not in caplog.text


async def test_without_a_key_one_simulator_serves_every_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.model")
    factory = ModelFactory(ModelSettings(sim=SimOptions(think=ThinkTime.fixed(0))))
    with pytest.raises(RuntimeError, match="start"):
        factory.create()
    async with factory as f:
        await f.start()  # idempotent: still one simulator
        assert f.uses_simulator and f.simulator is not None
        a, b = f.create(), f.create()
        assert a.provider == b.provider == f"127.0.0.1:{f.simulator.port}"
        clients = [a.session(), b.session()]
        sim = f.simulator.simulator
        try:
            # both connected, and each applied the plugin's session.update (which turns on
            # input transcription, off by default on the service)
            await eventually(
                lambda: len(sim.sessions) == 2 and all(s.settings.transcribe for s in sim.sessions),
                within_s=10,
            )
            for live in sim.sessions:
                vad = live.config["audio"]["input"]["turn_detection"]
                # server_vad as the factory asked, not the plugin's default semantic_vad
                assert vad["type"] == "server_vad"
                assert (vad["silence_duration_ms"], vad["prefix_padding_ms"]) == (500, 300)
        finally:
            for client in clients:
                await client.aclose()
            await a.aclose()
            await b.aclose()
        url = f.base_url
    lines = [r.getMessage() for r in caplog.records if "simulator answers" in r.getMessage()]
    assert len(lines) == 1
    assert "OPENAI_API_KEY is not set" in lines[0] and str(url) in lines[0]
    # closed at shutdown: nothing listens there any more
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(str(url) + "/realtime")


async def test_an_external_simulator_url_is_used_as_is(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.model")
    url = "http://127.0.0.1:1/v1"
    async with ModelFactory(ModelSettings(sim_url=url)) as f:
        assert f.simulator is None and f.base_url == url
        model = f.create()
        await model.aclose()
        assert model.provider == "127.0.0.1:1"
    assert "TRUNKLINE_SIM_URL" in caplog.text
    assert SIM_API_KEY
