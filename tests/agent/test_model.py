"""The model factory: OpenAI when a key is set, else the simulator, started once per process."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from agent.model import (
    DEFAULT_MODEL,
    SIM_API_KEY,
    ModelConfigError,
    ModelFactory,
    ModelSettings,
)
from agent.sim.options import SimOptions
from agent.sim.timing import ThinkTime

from .sim.harness import eventually


def test_settings_from_env_defaults_and_empty_values() -> None:
    s = ModelSettings.from_env({"OPENAI_API_KEY": "  ", "OPENAI_REALTIME_MODEL": ""})
    assert s.api_key is None and s.model == DEFAULT_MODEL and s.voice == "marin"
    assert s.sim_url is None and s.sim == SimOptions()


def test_settings_from_env_reads_every_value() -> None:
    sim = SimOptions(think=ThinkTime.fixed(10), seed=3)
    s = ModelSettings.from_env(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_REALTIME_MODEL": "gpt-realtime-mini",
            "OPENAI_REALTIME_VOICE": "cedar",
            "TRUNKLINE_SIM_URL": "http://127.0.0.1:8765/v1",
        },
        sim=sim,
    )
    assert (s.api_key, s.model, s.voice) == ("sk-test", "gpt-realtime-mini", "cedar")
    assert s.sim_url == "http://127.0.0.1:8765/v1" and s.sim is sim


@pytest.mark.parametrize("url", ["127.0.0.1:8765", "ftp://x/v1", "http://"])
def test_a_malformed_sim_url_is_named(url: str) -> None:
    with pytest.raises(ModelConfigError, match="TRUNKLINE_SIM_URL"):
        ModelSettings.from_env({"TRUNKLINE_SIM_URL": url})


async def test_with_a_key_openai_answers_and_no_simulator_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.model")
    async with ModelFactory(ModelSettings(api_key="sk-test", model="gpt-realtime")) as f:
        assert not f.uses_simulator and f.simulator is None and f.base_url is None
        model = f.create()
        try:
            assert model.model == "gpt-realtime"
            assert model.provider == "api.openai.com"
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
                lambda: len(sim.sessions) == 2 and all(s.settings.transcribe for s in sim.sessions)
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
