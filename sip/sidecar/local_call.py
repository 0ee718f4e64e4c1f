"""Local mode: the agent answers inside the sidecar, in an AgentSession bound to the call.

No LiveKit is involved: the session's audio input is the caller's stream and its output is
the pacer in front of the Twilio leaf output. This is the embedded default that lets anyone
place a simulated call with no accounts, and the lowest-latency shape of the twilio-ws path.

A call can end at any moment — the caller gone while the model is still connecting, during the
greeting, in a tool call — and what it started is closed in order: the session's start is let
finish (livekit-agents 1.8.9's ``AgentSession.start()`` cancelled half-way leaves its activity
and realtime session running, and ``aclose()`` of a session not marked started does nothing:
the orphan's reconnect loop then fails on the closed model and logs a trail of errors), then
the session, the caller's input, the pacer and the model. When the *model* fails the call
(see :mod:`agent.model_watch`), the caller hears the apology before the hang-up: never dead air.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from livekit.agents import AgentSession
from livekit.agents.llm import RealtimeModel, RealtimeSession
from livekit.agents.voice import io
from livekit.agents.voice.events import CloseEvent, ErrorEvent
from livekit.plugins import pacer

from agent.agent import TrunklineAgent
from agent.call_actions import CallerPath, TransferUnsupported
from agent.model import ModelFactory
from agent.model_watch import DEFAULT_STALL_S, StallWatch, ends_call
from agent.session import new_session
from agent.turn_metrics import TurnMetrics
from sip.bridge import apology
from sip.sidecar.backend import BackendFactory, CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.session_close import close_bounded
from sip.sidecar.twilio_io import TwilioAudioInput
from sip.sidecar.twilio_sink import TwilioSink
from sip.twilio.pacing import Pacing
from trunkline.config import Settings
from trunkline.turnlog import TurnLogWriter

logger = logging.getLogger(__name__)

#: How long closing a call waits for its session's start to finish: the start awaits only the
#: model's session set-up, which its own connect timeout bounds well below this.
START_WAIT_S: Final = 15.0
#: How long closing a call waits for its session to close before closing the model's session
#: under it (see :mod:`sip.sidecar.session_close`).
SESSION_CLOSE_S: Final = 5.0


class TwilioCallActions:
    """Hang-up and transfer for a Twilio media-stream call."""

    def __init__(self, info: CallInfo, control: CallControl, can_transfer: bool) -> None:
        self.info = info
        self.control = control
        self.can_transfer = can_transfer

    @property
    def path(self) -> CallerPath:
        return "twilio-ws"

    @property
    def call_id(self) -> str:
        return self.info.call_id

    async def hang_up(self, reason: str) -> None:
        await self.control.hang_up(reason)

    async def transfer(self, to: str) -> None:
        if not self.can_transfer:
            raise TransferUnsupported("Twilio REST credentials are not configured")
        await self.control.transfer(to)


class LocalAgentCall:
    def __init__(
        self,
        info: CallInfo,
        link: TwilioLink,
        control: CallControl,
        *,
        new_model: Callable[[], RealtimeModel],
        pacing: Pacing,
        apology_audio: bytes,
        stall_s: float = DEFAULT_STALL_S,
        can_transfer: bool = False,
        turn_log: TurnLogWriter | None = None,
        session_close_s: float = SESSION_CLOSE_S,
    ) -> None:
        self.info = info
        self.session_close_s = session_close_s
        self.link = link
        self.new_model = new_model
        self.apology_audio = apology_audio
        self.metrics = TurnMetrics(
            info.call_id, "twilio-ws", writer=turn_log, playback_is_at_caller=True
        )
        self.input = TwilioAudioInput(info.call_id)
        self.leaf = TwilioSink(link)
        self.output: io.AudioOutput = (
            pacer.PacedAudioOutput(
                self.leaf,
                frame_ms=pacing.frame_ms,
                prebuffer_ms=pacing.prebuffer_ms,
                lead_ms=pacing.lead_ms,
                adaptive_hold=pacing.adaptive_hold,
                stretch=pacing.stretch,
                on_segment=self.metrics.on_segment,
            )
            if pacing.enabled
            else self.leaf
        )
        self.agent = TrunklineAgent(TwilioCallActions(info, control, can_transfer))
        self.control = control
        self.model: RealtimeModel | None = None
        self.session: AgentSession[None] | None = None
        self.realtime: RealtimeSession[Any] | None = None
        self.stall_watch = StallWatch(stall_s, self._fail)
        #: why the model failed the call (None: it did not)
        self.failure: str | None = None
        self.apologised = False
        self._starting: asyncio.Future[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._hangup: asyncio.Future[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self.model = self.new_model()
        session = self.session = new_session(self.model)
        session.input.audio = self.input
        session.output.audio = self.output
        session.on("error", self._on_error)
        session.on("close", self._on_close)
        self.metrics.attach(session, self.output)
        # shielded: a call ending now cancels this, never the session's start (see above)
        self._starting = asyncio.ensure_future(self._start(session))
        await asyncio.shield(self._starting)

    async def _start(self, session: AgentSession[None]) -> None:
        await session.start(self.agent, record=False)
        self.realtime = self.agent.realtime_llm_session
        self.stall_watch.attach(self.realtime)
        logger.info("call %s: agent session started", self.info.call_id)

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        self.input.push(pcm)

    def dtmf(self, digit: str) -> None:
        if self.session is not None and self.failure is None:
            self.agent.on_dtmf(digit)

    # --- the model failing the call ---------------------------------------------------------

    def _on_error(self, ev: ErrorEvent) -> None:
        if (reason := ends_call(ev.error)) is not None:
            self._fail(reason)

    def _on_close(self, ev: CloseEvent) -> None:
        if not self._closing:
            self._fail(f"agent session closed ({ev.reason.value})")

    def _fail(self, reason: str) -> None:
        """End the call because the model failed it: once, and never while closing anyway."""
        if self._closing or self._ending is not None:
            return
        self.failure = reason
        logger.warning("call %s: %s; apologising and hanging up", self.info.call_id, reason)
        self._ending = asyncio.create_task(
            self._apologise_and_hang_up(reason), name=f"local-end-{self.info.call_id}"
        )

    async def _apologise_and_hang_up(self, reason: str) -> None:
        # the agent's audio stops reaching the caller at once (and what Twilio holds of it is
        # dropped), so the apology can follow while the session closes beside it
        self.leaf.mute()
        self.link.send_clear()
        closing = asyncio.ensure_future(self._close_session())
        try:
            self.apologised = await apology.play(self.link, self.apology_audio)
        finally:
            await closing
        self._hangup = asyncio.ensure_future(self.control.hang_up(reason, failed=True))
        await asyncio.shield(self._hangup)

    # --- closing ----------------------------------------------------------------------------

    async def _close_session(self) -> None:
        if self._starting is not None:
            try:
                async with asyncio.timeout(START_WAIT_S):
                    await asyncio.shield(self._starting)
            except TimeoutError:
                logger.warning("call %s: the session is still starting", self.info.call_id)
            except Exception:  # the start's own failure was reported where it was awaited
                pass
        await self.agent.end()
        self.stall_watch.close()
        if self.session is not None:
            realtime = self.realtime
            await close_bounded(
                self.session.aclose,
                realtime.aclose if realtime is not None else None,
                timeout_s=self.session_close_s,
                call_id=self.info.call_id,
            )

    async def aclose(self) -> None:
        self._closing = True
        self.metrics.close()
        if self._ending is not None and not self._ending.done():
            self._ending.cancel()  # an apology still playing: the caller is gone
            with contextlib.suppress(asyncio.CancelledError):
                await self._ending
        if self._hangup is not None:
            await self._hangup
        # The caller is gone: no mark will ever be echoed, so a reply the session is waiting to
        # hear played out never would be. Report what is pending now, as cut where the caller
        # stopped hearing it, or the session's close waits for ever on its playout (found by
        # the soak: 1 call in 9 at 100 concurrent calls).
        self.leaf.mute()
        self.output.clear_buffer()
        await self._close_session()
        self.input.close()
        # the session does not own its outputs: the pacer's delivery task is ours to stop
        if isinstance(self.output, pacer.PacedAudioOutput):
            await self.output.aclose()
        if self.model is not None:
            await self.model.aclose()
        logger.info("call %s: agent session closed", self.info.call_id)


def local_backend_factory(
    models: ModelFactory,
    pacing: Pacing,
    settings: Settings,
    *,
    turn_log: Path | None = None,
    stall_s: float = DEFAULT_STALL_S,
    apology_audio: bytes | None = None,
    session_close_s: float = SESSION_CLOSE_S,
) -> BackendFactory:
    """Backends for local mode: every call gets its own session and model from ``models``.

    The apology is rendered here (blocking, once) unless given, so no call waits for it."""
    writer = TurnLogWriter(turn_log) if turn_log is not None else None
    audio = apology.render() if apology_audio is None else apology_audio

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> LocalAgentCall:
        return LocalAgentCall(
            info,
            link,
            control,
            new_model=models.create,
            pacing=pacing,
            apology_audio=audio,
            stall_s=stall_s,
            session_close_s=session_close_s,
            can_transfer=settings.twilio is not None,
            turn_log=writer,
        )

    return factory
