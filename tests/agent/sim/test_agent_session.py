"""The real ``RealtimeModel`` and ``AgentSession`` (no room) holding calls with the simulator.

The caller is a scripted microphone speaking bundled CMU ARCTIC clips through a μ-law line; the
agent's audio goes to a simulated loudspeaker that records each frame. They run on virtual time
(``tests.virtual_time``): the simulator's timing model shows in the frames to the microsecond.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from livekit.agents import AgentSession, RunContext, function_tool
from livekit.plugins.openai.realtime import RealtimeModel

from agent.model import ModelFactory, ModelSettings
from agent.sim import tts
from agent.sim.options import SimOptions
from agent.sim.script import Script, ToolCall, Turn
from agent.sim.session import SimSession
from agent.sim.timing import STEADY_SPEED, Chunking, ThinkTime
from tests.waiting import eventually

from .harness import RATE, Greeter, Mic, Speaker, Transcript, speech_clip

pytestmark = [pytest.mark.slow, pytest.mark.virtual_time]

SCRIPT = Script(
    greeting="Hello there.",
    turns=(Turn("First reply."), Turn("Second reply.")),
    fallback="Nothing more.",
)
FAST = SimOptions(think=ThinkTime.fixed(100), chunking=Chunking.STEADY, script=SCRIPT)


@dataclass
class Call:
    session: AgentSession[Any]
    model: RealtimeModel
    mic: Mic
    speaker: Speaker
    transcript: Transcript
    factory: ModelFactory

    @property
    def sim_session(self) -> SimSession:
        assert self.factory.simulator is not None
        (session,) = self.factory.simulator.simulator.sessions
        return session


@asynccontextmanager
async def simulator(options: SimOptions) -> AsyncIterator[ModelFactory]:
    async with ModelFactory(ModelSettings(sim=options)) as factory:
        yield factory


@asynccontextmanager
async def call(factory: ModelFactory, agent: Greeter | None = None) -> AsyncIterator[Call]:
    model = factory.create()
    session: AgentSession[Any] = AgentSession(
        llm=model,
        vad=None,
        turn_handling={
            "turn_detection": "realtime_llm",
            "interruption": {"resume_false_interruption": False},
        },
    )
    mic, speaker = Mic(), Speaker()
    session.input.audio = mic
    session.output.audio = speaker
    transcript = Transcript(session)
    await session.start(agent or Greeter(), record=False)
    try:
        yield Call(session, model, mic, speaker, transcript, factory)
    finally:
        await session.aclose()
        await model.aclose()


def samples(text: str) -> int:
    return len(tts.synthesize(text).pcm)


async def test_a_multi_turn_spoken_conversation() -> None:
    async with simulator(FAST) as factory, call(factory) as c:
        async with asyncio.timeout(30):
            assert await c.transcript.wait_for("assistant", 1) == ["Hello there."]
            for turn, reply in enumerate(["First reply.", "Second reply."], start=1):
                c.mic.say(speech_clip("arctic_a0009.wav" if turn == 1 else "arctic_a0007.wav"))
                said = await c.transcript.wait_for("assistant", turn + 1)
                assert said[-1] == reply
            await eventually(lambda: len(c.speaker.finished) == 3, within_s=30)
        # the caller's turns, honestly labelled: no words, just how long they spoke
        assert len(c.transcript.user) == 2
        assert all(t.startswith("[caller speech, ") for t in c.transcript.user)
        # every sample of each reply reached the speaker, none lost or invented
        heard = [round(p * RATE) for p in c.speaker.finished]
        expected = [samples(t) for t in ("Hello there.", "First reply.", "Second reply.")]
        assert heard == pytest.approx(expected, abs=2)
        assert c.sim_session.stats["turns"] == 2


async def test_barge_in_truncates_the_reply_where_the_caller_stopped_hearing_it() -> None:
    long = (
        "This reply goes on for quite a while, so the caller has plenty of time to cut in "
        "before the end of it, which is exactly what happens next."
    )
    options = SimOptions(
        think=ThinkTime.fixed(100),
        chunking=Chunking.STEADY,
        script=Script(greeting=long, turns=(Turn("Yes?"),), fallback="Bye."),
    )
    async with simulator(options) as factory, call(factory) as c:
        async with asyncio.timeout(30):
            await eventually(lambda: c.speaker.arrivals, within_s=30)
            await asyncio.sleep(1.0)
            c.mic.say(speech_clip())
            assert (await c.transcript.wait_for("assistant", 2))[-1] == "Yes?"
        (position,) = c.speaker.interruptions
        greeting = c.sim_session.conversation.items[0]
        assert greeting.role == "assistant"
        # the model's copy of its reply now ends exactly where playback was cut
        assert greeting.audio_ms == int(position * 1000)
        assert greeting.audio_ms < samples(long) * 1000 // RATE
        assert greeting.data["content"][0]["transcript"] == ""
        # the caller cut in while the reply was still being generated: the server cancelled it
        assert c.sim_session.stats["cancelled"] == 1


class Hangs(Greeter):
    def __init__(self) -> None:
        super().__init__()
        self.hung_up: list[str] = []

    @function_tool
    async def end_call(self, context: RunContext[Any], reason: str) -> str:
        """End the call once the caller is done."""
        self.hung_up.append(reason)
        return "the call is ending"


async def test_a_scripted_tool_call_runs_the_agents_tool_end_to_end() -> None:
    options = SimOptions(
        think=ThinkTime.fixed(100),
        chunking=Chunking.STEADY,
        script=Script(
            greeting="Hi.",
            turns=(
                Turn(
                    "Goodbye.",
                    call=ToolCall("end_call", {"reason": "caller is done"}),
                    after_call="Hanging up now.",
                ),
            ),
            fallback="Bye.",
        ),
    )
    agent = Hangs()
    async with simulator(options) as factory, call(factory, agent) as c:
        async with asyncio.timeout(30):
            await c.transcript.wait_for("assistant", 1)
            c.mic.say(speech_clip())
            said = await c.transcript.wait_for("assistant", 3)
        assert said == ["Hi.", "Goodbye.", "Hanging up now."]
        assert agent.hung_up == ["caller is done"]
        kinds = [item.type for item in c.sim_session.conversation.items]
        assert kinds[-3:] == ["function_call", "function_call_output", "message"]


@pytest.mark.parametrize("chunking", list(Chunking))
async def test_the_timing_model_shows_in_the_frames_that_arrive(chunking: Chunking) -> None:
    text = "One, two, three, four, five, six, seven."
    options = SimOptions(
        think=ThinkTime.fixed(800),
        chunking=chunking,
        script=Script(greeting=text, turns=(), fallback="Bye."),
    )
    async with simulator(options) as factory:
        started = asyncio.get_running_loop().time()
        async with call(factory) as c, asyncio.timeout(30):
            await eventually(lambda: c.speaker.finished, within_s=30)
    arrivals = c.speaker.arrivals
    # nothing before the model has "thought" for 800 ms, and the first audio exactly then
    assert arrivals[0].at - started == pytest.approx(0.8, abs=1e-9)
    sizes = [a.samples for a in arrivals]
    assert sum(sizes) == samples(text)
    if chunking is Chunking.STEADY:
        assert set(sizes[:-1]) == {RATE // 10}
        # each delta made STEADY_SPEED times faster than it plays
        gaps = np.diff([a.at for a in arrivals])
        assert gaps == pytest.approx(np.asarray(sizes[1:]) / RATE / STEADY_SPEED, abs=1e-9)
    else:
        assert all(RATE // 20 <= s <= RATE // 2 for s in sizes[:-1])
        assert len(set(sizes)) >= len(sizes) // 2  # uneven bursts, hardly two alike


async def test_concurrent_calls_each_get_their_own_conversation() -> None:
    async with (
        simulator(FAST) as factory,
        call(factory) as a,
        call(factory) as b,
        call(factory) as c,
        asyncio.timeout(30),
    ):
        for each in (a, b, c):
            await each.transcript.wait_for("assistant", 1)
        assert factory.simulator is not None
        assert len(factory.simulator.simulator.sessions) == 3
        a.mic.say(speech_clip("arctic_a0007.wav"))
        b.mic.say(speech_clip("arctic_a0009.wav"))
        await a.transcript.wait_for("assistant", 2)
        await b.transcript.wait_for("assistant", 2)
        assert c.transcript.user == []  # c's caller said nothing; it heard no one else
        assert a.transcript.user != b.transcript.user  # 4.0 s and 3.1 s of speech
        assert a.transcript.said("assistant") == ["Hello there.", "First reply."]
