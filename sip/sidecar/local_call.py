"""Local mode: the agent answers inside the sidecar, in an AgentSession bound to the call.

No LiveKit is involved: the session's audio input is the caller's stream and its output is
the pacer in front of the Twilio leaf output. This is the embedded default that lets anyone
place a simulated call with no accounts, and the lowest-latency shape of the twilio-ws path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from livekit.agents import AgentSession
from livekit.agents.llm import RealtimeModel
from livekit.agents.voice import io
from livekit.plugins import pacer

from agent.agent import TrunklineAgent
from agent.call_actions import CallerPath, TransferUnsupported
from agent.model import ModelFactory
from agent.session import new_session
from agent.turn_metrics import TurnMetrics
from lab.turnlog import TurnLogWriter
from sip.sidecar.backend import BackendFactory, CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.twilio_io import TwilioAudioInput, TwilioAudioOutput
from trunkline.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pacing:
    """Pacer settings for the Twilio path; ``enabled=False`` forwards model audio unpaced
    (as OpenAI's and Twilio's demos do) — kept for A/B measurement, not for production."""

    enabled: bool = True
    frame_ms: int = 20
    prebuffer_ms: float = 60
    lead_ms: int = 60
    """Twilio buffers what it gets: a few frames of lead absorb event-loop jitter while a
    barge-in still cuts within lead + one frame."""
    adaptive_hold: bool = True
    stretch: pacer.Stretch | None = pacer.DEFAULT_STRETCH
    """Adaptive playout (local mode): start early and absorb stalls in tempo, not delay; None
    holds each reply until the learned stall is covered (see bench/BENCHMARKS.md)."""


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
        can_transfer: bool = False,
        turn_log: TurnLogWriter | None = None,
    ) -> None:
        self.info = info
        self.new_model = new_model
        self.metrics = TurnMetrics(
            info.call_id, "twilio-ws", writer=turn_log, playback_is_at_caller=True
        )
        self.input = TwilioAudioInput(info.call_id)
        self.leaf = TwilioAudioOutput(link)
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

    async def start(self) -> None:
        self.model = self.new_model()
        session = self.session = new_session(self.model)
        session.input.audio = self.input
        session.output.audio = self.output
        self.metrics.attach(session, self.output)
        await session.start(self.agent, record=False)
        logger.info("call %s: agent session started", self.info.call_id)

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        self.input.push(pcm)

    def dtmf(self, digit: str) -> None:
        if self.session is not None:
            self.agent.on_dtmf(digit)

    async def aclose(self) -> None:
        self.metrics.close()
        if self.session is not None:
            await self.session.aclose()
        self.input.close()
        # the session does not own its outputs: the pacer's delivery task is ours to stop
        if isinstance(self.output, pacer.PacedAudioOutput):
            await self.output.aclose()
        if self.model is not None:
            await self.model.aclose()
        logger.info("call %s: agent session closed", self.info.call_id)


def local_backend_factory(
    models: ModelFactory, pacing: Pacing, settings: Settings, *, turn_log: Path | None = None
) -> BackendFactory:
    """Backends for local mode: every call gets its own session and model from ``models``."""
    writer = TurnLogWriter(turn_log) if turn_log is not None else None

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> LocalAgentCall:
        return LocalAgentCall(
            info,
            link,
            control,
            new_model=models.create,
            pacing=pacing,
            can_transfer=settings.twilio is not None,
            turn_log=writer,
        )

    return factory
