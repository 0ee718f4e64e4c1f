"""Local mode end to end: the real sidecar app, the real openai plugin in an AgentSession, the
simulator as the model, the pacer, and the simulated Twilio caller on the other side.

They run on virtual time (``tests.virtual_time``): every timer fires exactly on time and
computing takes none, so what the call measures is what the schedule says, and the tests state
it exactly — the model's think time is the model stage to the microsecond, frames leave every
20 ms with 60 ms of lead, the caller hears the first frame the instant the pacer releases it.
One call also runs on the wall clock (the smoke test at the end), to show the same path keeps
time on a real loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from livekit.agents.voice.io import PlaybackFinishedEvent
from prometheus_client import REGISTRY

from agent.model import ModelFactory, ModelSettings
from agent.sim.options import SimOptions
from agent.sim.script import Script, ToolCall, Turn
from agent.sim.session import SimSession
from agent.sim.timing import Chunking, ThinkTime
from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.local_call import LocalAgentCall, local_backend_factory
from sip.twilio.pacing import Pacing
from tests.waiting import eventually
from trunkline.config import settings_from_env
from trunkline.turnlog import read_turnlogs

pytestmark = pytest.mark.slow

THINK_S = 0.3
FRAME_S = 0.02

LONG = (
    "This reply goes on for quite a while, so that the caller has plenty of time to cut in "
    "before it ends, which is exactly what the caller is about to do right now."
)
SCRIPT = Script(
    greeting="Hello, this is trunkline.",
    turns=(
        Turn(LONG),
        Turn("Second reply."),
        Turn("Goodbye!", call=ToolCall("end_call")),
    ),
    fallback="Nothing more.",
)
SPEECH = load_speech(default_speech())


@dataclass
class Sidecar:
    url: str
    factory: ModelFactory
    turn_log: Path
    state: SidecarState
    calls: list[LocalAgentCall] = field(default_factory=list)
    finished: list[PlaybackFinishedEvent] = field(default_factory=list)
    """As the Twilio leaf reported them: from echoed marks."""
    reported: list[PlaybackFinishedEvent] = field(default_factory=list)
    """As the pacer reported them to the session: the leaf's, less the silence it inserted."""

    async def wait_idle(self) -> None:
        """Every call cleans up after itself (agent session, model, stream) on its own."""
        await eventually(lambda: self.state.active_calls == 0, within_s=20)
        assert all(c.model is not None and c.session is not None for c in self.calls)

    def sim_session(self) -> SimSession | None:
        assert self.factory.simulator is not None
        sessions = self.factory.simulator.simulator.sessions
        return next(iter(sessions), None)


@pytest.fixture
async def sidecar(tmp_path: Path) -> AsyncIterator[Sidecar]:
    options = SimOptions(
        think=ThinkTime.fixed(THINK_S * 1000), chunking=Chunking.STEADY, script=SCRIPT
    )
    settings = settings_from_env({})
    async with ModelFactory(ModelSettings(sim=options)) as factory:
        turn_log = tmp_path / "turns.jsonl"
        make = local_backend_factory(factory, Pacing(), settings, turn_log=turn_log)
        holder: list[Sidecar] = []

        def backend(info: CallInfo, link: TwilioLink, control: CallControl) -> LocalAgentCall:
            call = make(info, link, control)
            assert isinstance(call, LocalAgentCall)
            call.leaf.on("playback_finished", holder[0].finished.append)
            call.output.on("playback_finished", holder[0].reported.append)
            holder[0].calls.append(call)
            return call

        app = create_app(settings, backend)
        server = TestServer(app)
        await server.start_server()
        holder.append(Sidecar(str(server.make_url("")), factory, turn_log, app[STATE]))
        try:
            yield holder[0]
        finally:
            await server.close()


async def place(url: str, **options: object) -> CallResult:
    async with aiohttp.ClientSession() as http:
        opts = CallerOptions(url=url, speech=SPEECH, **options)  # type: ignore[arg-type]
        return await SimulatedCaller(opts, http).run()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.virtual_time
async def test_call_is_answered_paced_and_ended_by_the_agent(sidecar: Sidecar) -> None:
    latency = "trunkline_response_latency_seconds_count"
    stage = "trunkline_turn_stage_seconds_count"
    before = {
        "latency": sample(latency, path="twilio-ws"),
        "latency_sum": sample("trunkline_response_latency_seconds_sum", path="twilio-ws"),
        "model": sample(stage, path="twilio-ws", stage="model"),
        "model_sum": sample("trunkline_turn_stage_seconds_sum", path="twilio-ws", stage="model"),
        "transport": sample(stage, path="twilio-ws", stage="transport"),
        "ended": sample("trunkline_calls_ended_total", path="twilio-ws", reason="agent"),
        "underruns": sample("trunkline_pacer_underruns_total", path="twilio-ws", pacer="agent"),
    }
    result = await place(sidecar.url, turns=3)
    assert result.greeting is not None and result.greeting.heard_ms > 500
    assert [t.turn for t in result.turns] == [1, 2, 3]
    for t in result.turns:
        assert t.heard_ms > 0 and t.gaps == 0
    # the third scripted reply calls end_call: the agent hangs up after its goodbye
    assert result.hung_up_by == "agent" and result.close_code == 1000
    # one mark per frame the caller played, plus each reply's end mark; nothing cleared
    played_frames = (result.greeting.heard_ms + sum(t.heard_ms for t in result.turns)) / 20
    assert result.marks_acked == round(played_frames) + 4 and result.clears == 0
    # the pacer released 20 ms frames on the tick, always exactly the lead (60 ms) ahead
    assert result.cadence.interval_p50_ms == pytest.approx(20, abs=1e-6)
    assert result.cadence.buffered_p50_ms == result.cadence.buffered_max_ms == Pacing().lead_ms
    await sidecar.wait_idle()
    log = read_turnlogs([sidecar.turn_log])
    assert not log.problems
    turns = {r.turn: r for r in log.records}
    assert set(turns) == {0, 1, 2, 3}
    for r in turns.values():
        assert r.path == "twilio-ws" and r.call_id == result.call_sid
        assert isinstance(r.pacer["underruns"], int) and isinstance(r.pacer["hold_ms"], float)
        first_frame, model_audio = r.pacer_first_frame, r.model_first_audio
        assert first_frame is not None and model_audio is not None
        # the pacer's stage is exactly the hold it chose
        assert first_frame - model_audio == pytest.approx(r.pacer["hold_ms"] / 1000, abs=1e-6)
        # the sidecar learns when the caller started hearing from the first frame's mark,
        # which Twilio echoes once that frame has played
        assert r.caller_first_audio is not None
        assert 0 <= r.caller_first_audio - first_frame <= FRAME_S + 1e-6
    # the greeting starts after the prebuffer (nothing learned yet); the replies at once, as
    # adaptive playout absorbs a stall in tempo rather than in a hold
    assert turns[0].pacer["hold_ms"] == Pacing().prebuffer_ms
    for n, heard in zip((1, 2, 3), result.turns, strict=True):
        detected, model_audio = turns[n].turn_detected, turns[n].model_first_audio
        assert detected is not None and model_audio is not None
        # the model stage is the simulator's think time, to the microsecond
        assert model_audio - detected == pytest.approx(THINK_S, abs=1e-6)
        assert turns[n].pacer["hold_ms"] == 0.0
        # and the caller's latency is turn detection + think time: no transport time at all
        assert heard.speech_end is not None and heard.latency_ms is not None
        assert heard.first_audio_received == pytest.approx(model_audio, abs=1e-6)
        assert heard.latency_ms == pytest.approx((model_audio - heard.speech_end) * 1000, abs=1e-3)
    # the same turns, as Prometheus sees them: three replies with a latency, four with stages
    assert sample(latency, path="twilio-ws") == before["latency"] + 3
    assert sample(stage, path="twilio-ws", stage="model") == before["model"] + 3
    model_sum = sample("trunkline_turn_stage_seconds_sum", path="twilio-ws", stage="model")
    assert model_sum - before["model_sum"] == pytest.approx(3 * THINK_S, abs=1e-5)
    assert sample(stage, path="twilio-ws", stage="transport") == before["transport"] + 4
    assert sample("trunkline_calls_ended_total", path="twilio-ws", reason="agent") == (
        before["ended"] + 1
    )
    underruns = sum(r.underruns() for r in turns.values())
    assert sample("trunkline_pacer_underruns_total", path="twilio-ws", pacer="agent") == (
        before["underruns"] + underruns
    )
    # the agent's response latency (turn detected → first frame out) is the think time
    total = sample("trunkline_response_latency_seconds_sum", path="twilio-ws")
    assert total - before["latency_sum"] == pytest.approx(3 * THINK_S, abs=1e-5)


@pytest.mark.virtual_time
async def test_barge_in_clears_twilio_and_truncates_where_marks_say_playback_stopped(
    sidecar: Sidecar,
) -> None:
    call = asyncio.create_task(
        place(sidecar.url, turns=2, barge_in_turns=frozenset({1}), barge_after_ms=800)
    )
    await eventually(lambda: sidecar.sim_session() is not None, within_s=30)
    sim = sidecar.sim_session()  # kept: the simulator forgets a session when its call ends
    assert sim is not None
    result = await call
    await sidecar.wait_idle()
    assert result.clears == 1
    barged = result.turns[0].barge_in
    assert barged is not None and barged.clear_after_ms is not None
    # Twilio empties its buffer on the clear: the caller hears nothing of the reply after it
    assert barged.cutoff_ms == pytest.approx(barged.clear_after_ms, abs=1e-6)
    (marks,) = [ev for ev in sidecar.finished if ev.interrupted]
    (reported,) = [ev for ev in sidecar.reported if ev.interrupted]
    # the marks Twilio (the caller) echoed say what it heard. The clear follows the caller's
    # speech, which arrives on its 20 ms ticks, so it lands on a tick: the caller counts the
    # frame that began at that instant as heard, and Twilio dropped it as it began
    heard_by_caller_ms = result.turns[0].heard_ms
    assert heard_by_caller_ms >= 800  # the caller talked over the reply 800 ms into it
    assert marks.playback_position * 1000 == pytest.approx(heard_by_caller_ms - 20, abs=1e-6)
    # the pacer reports that position in the model's own audio: less any silence it inserted
    # itself, and less the time adaptive playout added by playing it slower (at most what
    # slowing added to everything that had left the pacer by the cut)
    (segment,) = [c for c in sidecar.calls[0].metrics.records if c.turn == 1]
    inserted_ms, stretched_ms = segment.pacer["underrun_ms"], segment.pacer["stretch_ms"]
    assert isinstance(inserted_ms, float) and isinstance(stretched_ms, float)
    heard_ms = marks.playback_position * 1000 - inserted_ms
    assert heard_ms - stretched_ms - 1 <= reported.playback_position * 1000 <= heard_ms + 1
    # and the model keeps of its interrupted reply exactly that
    (cut,) = [
        item
        for item in sim.conversation.items
        if item.role == "assistant" and item.data["content"][0].get("transcript") == ""
    ]
    assert cut.audio_ms == pytest.approx(reported.playback_position * 1000, abs=1)


@pytest.mark.virtual_time
async def test_keypad_digits_reach_the_agent_and_get_an_answer(sidecar: Sidecar) -> None:
    call = asyncio.create_task(place(sidecar.url, turns=1, dtmf="7"))
    await eventually(lambda: sidecar.sim_session() is not None, within_s=30)
    sim = sidecar.sim_session()
    assert sim is not None
    result = await call
    await sidecar.wait_idle()
    texts = [
        part.get("text", "")
        for item in sim.conversation.items
        if item.role == "user"
        for part in item.data.get("content", [])
    ]
    assert any("pressed 7" in t for t in texts), texts
    # the agent answered the key press before the caller's first turn
    assert sim.stats["responses"] == 3  # greeting, the key press, turn 1
    assert result.turns[0].latency_ms is not None


async def test_a_call_keeps_time_on_the_wall_clock(sidecar: Sidecar) -> None:
    """The smoke test on a real event loop: the same path, timed by the machine, so only
    windows can be asserted (a shared machine stretches any timer)."""
    result = await place(sidecar.url, turns=1)
    assert result.greeting is not None and result.greeting.heard_ms > 500
    (turn,) = result.turns
    assert turn.latency_ms is not None and turn.latency_ms > THINK_S * 1000
    assert turn.heard_ms > 0 and turn.gaps == 0
    assert result.cadence.interval_p50_ms == pytest.approx(20, abs=2)
    assert result.cadence.buffered_max_ms is not None and result.cadence.buffered_max_ms <= 200
    await sidecar.wait_idle()
