"""A local-mode call torn down at any moment leaves nothing behind and logs no error.

The moments are where the call's own work is in flight: the model's connection not yet open
(its upgrade held back by the proxy) or opening, the greeting playing, a tool running, and the
call idle once all is done. Each time the call is closed as the media-stream handler closes it —
its start cancelled, then ``aclose()`` — and then every simulator session and socket must be
gone, and no task of the agent's stack may still be pending. The log check
(``tests/logcheck.py``) fails the test on any ERROR line, never-retrieved exception or task left
pending; before the fix, closing during the model's connection left the session's activity and
its realtime session's reconnect loop running on a closed model (``RuntimeError: Session is
closed``, "AgentSession is closing due to unrecoverable error", destroyed pending tasks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents.llm import RealtimeModel

from agent.model import ModelFactory, ModelSettings
from agent.sim.embedded import RunningSimulator, run_simulator
from agent.sim.options import SimOptions
from agent.sim.script import Script, ToolCall, Turn
from agent.sim.timing import Chunking, ThinkTime
from sip.sidecar.backend import CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.local_call import LocalAgentCall
from sip.twilio.pacing import Pacing
from tests.agent.faulty_model import FaultyModel
from tests.agent.room_rig import agent_tasks
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.virtual_time]

SCRIPT = Script(
    greeting="Hello, this is trunkline, with a greeting long enough to be cut short.",
    turns=(Turn("One moment.", call=ToolCall("transfer_call", {"phone_number": "+15550100999"})),),
    fallback="Nothing more.",
)
APOLOGY = b"\xff" * 160


class StreamSocket:
    """What a TwilioLink writes to: the media stream's WebSocket, kept in memory, with Twilio's
    side played by echoing each mark at once (as if the caller's playback kept up)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.link: TwilioLink | None = None
        self.echo = True
        """False: Twilio echoes no mark (the caller's playback never reports, as when they
        have hung up)."""

    async def send_str(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append(message)
        if message["event"] == "mark" and self.link is not None and self.echo:
            self.link.mark_received(message["mark"]["name"])

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed = True
        return True

    def media(self) -> int:
        return sum(1 for m in self.sent if m["event"] == "media")

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.sent if m["event"] == "mark"]


@dataclass
class Control:
    """The call's CallControl: a transfer blocks until released (a tool in flight)."""

    transferring: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: list[str] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)

    async def hang_up(self, reason: str, *, failed: bool = False) -> None:
        self.hung_up.append(reason)
        self.failed.append(failed)

    async def transfer(self, to: str) -> None:
        self.transferring.set()
        await self.release.wait()


@dataclass
class Rig:
    sim: RunningSimulator
    model: FaultyModel
    factory: ModelFactory

    @contextlib.asynccontextmanager
    async def call(
        self, *, echo: bool = True
    ) -> AsyncIterator[tuple[LocalAgentCall, StreamSocket, Control]]:
        socket, control = StreamSocket(), Control()
        socket.echo = echo
        link = socket.link = TwilioLink(socket, "MZteardown", "CAteardown")  # type: ignore[arg-type]
        info = CallInfo("CAteardown", "MZteardown", "AC1")
        call = LocalAgentCall(
            info,
            link,
            control,
            new_model=self.factory.create,
            pacing=Pacing(),
            apology_audio=APOLOGY,
            can_transfer=True,
        )
        try:
            yield call, socket, control
        finally:
            await link.aclose()

    async def wait_released(self) -> None:
        simulator = self.sim.simulator
        await eventually(lambda: not simulator.sessions and not simulator.sockets, within_s=10)
        await eventually(lambda: not agent_tasks(), within_s=10)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    options = SimOptions(think=ThinkTime.fixed(100), chunking=Chunking.STEADY, script=SCRIPT)
    async with (
        run_simulator(options) as sim,
        FaultyModel(sim.base_url).running() as model,
        ModelFactory(ModelSettings(sim_url=model.url)) as factory,
    ):
        yield Rig(sim, model, factory)


async def end_when(
    rig: Rig,
    moment: Callable[[LocalAgentCall, StreamSocket, Control], Awaitable[None]],
    *,
    echo: bool = True,
    expect_closing_s: float | None = 0.0,
) -> tuple[LocalAgentCall, float]:
    """Start a call, and at ``moment`` end it the way the media-stream handler does.

    On virtual time the close takes exactly ``expect_closing_s``: none at all unless the call
    must wait for something in flight, so a close that waits on a timeout (the session's
    bounded close, a reply's playout) fails here."""
    async with rig.call(echo=echo) as (call, socket, control):
        starting = asyncio.create_task(call.start())
        await moment(call, socket, control)
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        closing = asyncio.get_running_loop().time()
        await call.aclose()
        closed = asyncio.get_running_loop().time()
        control.release.set()
    await rig.wait_released()
    assert call.failure is None and not call.apologised
    if expect_closing_s is not None:
        assert closed - closing == pytest.approx(expect_closing_s, abs=1e-9)
    return call, closed


async def test_ending_before_the_model_answers_the_connection(rig: Rig) -> None:
    rig.model.connect_delay_s = 1.0

    async def connecting(*_: object) -> None:
        await eventually(lambda: rig.model.connections == 1)

    call, closed = await end_when(rig, connecting, expect_closing_s=None)
    # the close let the session's start finish: it waited for the held-back upgrade, no longer
    assert call.session is not None
    assert closed == pytest.approx(rig.model.upgraded_at[0], abs=1e-9)


@pytest.mark.parametrize("steps", range(8))
async def test_ending_as_the_session_starts(rig: Rig, steps: int) -> None:
    """``steps`` turns of the event loop into the start: the session's activity and its
    realtime session come to be somewhere in these, before the session counts as started."""

    async def after_steps(*_: object) -> None:
        for _step in range(steps):
            await asyncio.sleep(0)

    await end_when(rig, after_steps)


async def test_ending_during_the_greeting(rig: Rig) -> None:
    async def greeting(_: LocalAgentCall, socket: StreamSocket, __: Control) -> None:
        await eventually(lambda: socket.media() >= 10, within_s=10)

    await end_when(rig, greeting)


async def test_ending_during_a_tool_call(rig: Rig) -> None:
    async def in_the_tool(call: LocalAgentCall, socket: StreamSocket, control: Control) -> None:
        await eventually(lambda: call.session is not None and socket.media() >= 10, within_s=10)
        call.dtmf("1")  # the scripted answer to it calls transfer_call
        await asyncio.wait_for(control.transferring.wait(), 15)

    await end_when(rig, in_the_tool)


async def test_ending_once_the_call_is_idle(rig: Rig) -> None:
    async def idle(call: LocalAgentCall, socket: StreamSocket, __: Control) -> None:
        await eventually(lambda: socket.media() >= 10, within_s=10)
        await eventually(
            lambda: call.session is not None and call.session.agent_state == "listening",
            within_s=15,
        )

    await end_when(rig, idle)


async def test_ending_while_a_sent_reply_waits_for_marks_that_never_come(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The greeting has all gone out but no mark is echoed (the caller hung up with it still
    in Twilio's buffer): the session's reply waits on a playout only the caller's marks would
    end, and the call still closes at once, well inside the close's bound."""

    async def all_sent(call: LocalAgentCall, socket: StreamSocket, __: Control) -> None:
        await eventually(lambda: "1:end" in socket.marks(), within_s=30)  # the greeting's end

    call, _ = await end_when(rig, all_sent, echo=False)  # the close takes no time at all
    assert call.session is not None
    assert not [r for r in caplog.records if "did not close" in r.getMessage()]


async def test_closing_reports_pending_playback_before_the_session_closes() -> None:
    """What the soak found (1 call in 9 never released at 100 concurrent calls, each stuck in
    the session's drain on a reply's ``wait_for_playout``): once the caller is gone no mark
    will come, so the call reports every pending playback itself, cut, before it closes the
    session — whose close would otherwise wait on it."""
    socket = StreamSocket()
    socket.echo = False
    link = socket.link = TwilioLink(socket, "MZpending", "CApending")  # type: ignore[arg-type]

    def no_model() -> RealtimeModel:
        raise AssertionError("the call is never started here")

    call = LocalAgentCall(
        CallInfo("CApending", "MZpending", "AC1"),
        link,
        Control(),
        new_model=no_model,
        pacing=Pacing(),
        apology_audio=APOLOGY,
    )
    pcm = np.zeros(1600, dtype=np.int16)  # 200 ms of a reply, captured and flushed
    await call.output.capture_frame(rtc.AudioFrame(pcm.tobytes(), 8000, 1, len(pcm)))
    call.output.flush()
    await eventually(lambda: socket.media() >= 1, within_s=5)
    seen: list[bool] = []

    async def close_session() -> None:  # stands for the session's close, which awaits this
        ev = await asyncio.wait_for(call.output.wait_for_playout(), 1.0)
        seen.append(ev.interrupted)

    call._close_session = close_session  # type: ignore[method-assign]
    await call.aclose()
    await link.aclose()
    assert seen == [True]
