"""The room job: one caller, one agent session, every caller path.

LiveKit dispatches the agent into a room by name; the job joins, waits for its caller (the first
participant that is not an agent), tells the path from the participant, and runs the same agent
session that local mode runs, with RoomIO as its transport. Three things are added around RoomIO
for the reasons the design gives: the pacer in front of its output (bursty model audio into a
clocked track), per-turn metrics labelled with the path, and — for the Twilio bridge only — a
``trunkline.clear`` RPC when a reply is cut off, because the bridge's buffers are beyond RoomIO's
reach.

The job subscribes to its caller's audio only: in a room with other participants (a supervisor,
a second agent) the model must hear the caller and nobody else.

A call ends when the caller leaves, when the session closes, or when the agent hangs up; each
ends the job, and the job's shutdown closes the model and the pacer, so nothing outlives it.

Each call is counted in ``trunkline.metrics`` by path (started, in progress, ended and why), and
every line the job logs names the call (``call_id``, ``room``, ``path``) through LiveKit's own
per-job log fields, which its log formatters print.

The job's shutdown closes the session before it runs our shutdown callback, so the agent is told
the call is over as the shutdown is asked for: a tool waiting on the call must not hold the
session's close until livekit-agents gives up on it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import AgentSession, AutoSubscribe, JobContext, room_io
from livekit.agents.llm import RealtimeModel
from livekit.agents.voice.events import CloseEvent, CloseReason
from livekit.agents.voice.io import AudioOutput
from livekit.plugins.pacer import PacedAudioOutput

from agent.agent import TrunklineAgent
from agent.bridge_contract import PONG, RPC_PING
from agent.caller_path import call_id, caller_path
from agent.clear_signal import ClearSignalOutput
from agent.first_audio import FirstAudioStamp
from agent.model import ModelFactory, ModelSettings, choose_model
from agent.room_actions import RoomCallActions
from agent.session import new_session
from agent.turn_metrics import TurnMetrics
from trunkline import metrics
from trunkline.config import ConfigError, text
from trunkline.turnlog import TurnLogWriter

logger = logging.getLogger(__name__)

#: what a keypad (Twilio ``dtmf``, SIP INFO / RFC 4733) can send
DTMF_DIGITS = frozenset("0123456789*#ABCD")
PACER_SETTINGS = {"on": True, "off": False}


def pacer_setting(env: Mapping[str, str], problems: list[str]) -> bool:
    """``TRUNKLINE_PACER``: on (the default) or off — off only to measure what pacing buys."""
    raw = text(env, "TRUNKLINE_PACER")
    if raw is None:
        return True
    if raw.lower() not in PACER_SETTINGS:
        problems.append(f"TRUNKLINE_PACER={raw!r} must be on or off")
        return True
    return PACER_SETTINGS[raw.lower()]


@dataclass(frozen=True)
class JobSettings:
    model: ModelSettings
    turn_log: str | None = None
    #: pace the agent's audio into RoomIO (``TRUNKLINE_PACER``; off is for A/B measurement)
    pacer: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobSettings:
        """The model (``agent.model``), ``TRUNKLINE_TURN_LOG`` and ``TRUNKLINE_PACER``; raises
        :class:`ConfigError`.

        A job never starts a simulator of its own: the worker process runs one for all its jobs
        and names it in ``TRUNKLINE_SIM_URL`` (see ``agent.worker``).
        """
        problems: list[str] = []
        model = ModelSettings.from_env(env, problems)
        if model is not None:  # the worker already refused what it must not run
            model = choose_model(
                model, text(env, "TRUNKLINE_MODEL"), real_callers=None, problems=problems
            )
        if model is not None and model.api_key is None and model.sim_url is None:
            problems.append(
                "neither OPENAI_API_KEY nor TRUNKLINE_SIM_URL is set: no model can answer "
                "(`python agent.py` starts a simulator for its jobs when OPENAI_API_KEY is unset)"
            )
        pacer = pacer_setting(env, problems)
        if problems or model is None:
            raise ConfigError(problems)
        return cls(model=model, turn_log=text(env, "TRUNKLINE_TURN_LOG"), pacer=pacer)


async def entrypoint(ctx: JobContext) -> None:
    settings = JobSettings.from_env(os.environ)
    await ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_NONE)
    answer_pings(ctx.room)
    caller = await ctx.wait_for_participant()
    call = RoomCall(ctx, caller, settings)
    ctx.add_shutdown_callback(call.aclose)
    await call.start()


def answer_pings(room: rtc.Room) -> None:
    """Answer the Twilio bridge's liveness pings (``trunkline.ping``) from this job's loop, so a
    reply also says the agent's event loop is running, not merely that its connection is up."""
    room.local_participant.register_rpc_method(RPC_PING, lambda _data: PONG)


class RoomCall:
    """One caller's call: its session, model, paced output, metrics and call actions."""

    def __init__(
        self, ctx: JobContext, caller: rtc.RemoteParticipant, settings: JobSettings
    ) -> None:
        self.ctx = ctx
        self.caller = caller
        self.settings = settings
        self.path = caller_path(caller)
        self.call_id = call_id(caller, self.path, ctx.room.name)
        self.writer = TurnLogWriter(settings.turn_log) if settings.turn_log else None
        self.metrics = TurnMetrics(
            self.call_id, self.path, writer=self.writer, playback_is_at_caller=False
        )
        self.actions = RoomCallActions(ctx, caller, self.path, self.call_id)
        self.agent = TrunklineAgent(self.actions)
        self.models = ModelFactory(settings.model)
        self.model: RealtimeModel | None = None
        self.session: AgentSession[None] | None = None
        self.pacer: PacedAudioOutput | None = None
        self.ended_by: metrics.EndReason | None = None

    async def start(self) -> None:
        self.ctx.log_context_fields.update(
            call_id=self.call_id, room=self.ctx.room.name, path=self.path
        )
        metrics.CALLS.labels(self.path).inc()
        metrics.CALLS_ACTIVE.labels(self.path).inc()
        logger.info(
            "call %s: caller %s joined room %s by the %s path",
            self.call_id,
            self.caller.identity,
            self.ctx.room.name,
            self.path,
        )
        room = self.ctx.room
        room.on("track_published", self._on_track_published)
        room.on("participant_disconnected", self._on_participant_disconnected)
        room.on("sip_dtmf_received", self._on_dtmf)
        for publication in self.caller.track_publications.values():
            self._subscribe(publication)

        await self.models.start()
        self.model = self.models.create()
        session = self.session = new_session(self.model)
        session.on("close", self._on_close)
        await session.start(
            self.agent,
            room=room,
            room_options=room_io.RoomOptions(participant_identity=self.caller.identity),
            record=False,
        )
        # RoomIO's output exists only now; a text-only console session has none to pace
        if (inner := session.output.audio) is not None:
            output: AudioOutput
            if self.settings.pacer:
                output = self.pacer = PacedAudioOutput(inner, on_segment=self.metrics.on_segment)
            else:
                logger.warning("call %s: TRUNKLINE_PACER=off, agent audio unpaced", self.call_id)
                output = FirstAudioStamp(inner, self.metrics.on_unpaced_audio)
            if self.path == "twilio-ws":
                output = ClearSignalOutput(output, self.actions.send_clear)
            session.output.audio = output
            self.metrics.attach(session, output)

    def _subscribe(self, publication: rtc.RemoteTrackPublication) -> None:
        if publication.kind == rtc.TrackKind.KIND_AUDIO:
            publication.set_subscribed(True)

    def _on_track_published(
        self, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if participant.identity == self.caller.identity:
            self._subscribe(publication)

    def _shutdown(self, reason: str) -> None:
        self.agent.call_over()
        self.ctx.shutdown(reason)

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity == self.caller.identity:
            self._ended(None if self.actions.ended else "caller")
            self._shutdown("the caller left")

    def _on_dtmf(self, ev: rtc.SipDTMF) -> None:
        if ev.participant is None or ev.participant.identity != self.caller.identity:
            return
        if ev.digit not in DTMF_DIGITS:
            logger.warning("call %s: ignoring DTMF %r (code %d)", self.call_id, ev.digit, ev.code)
            return
        self.agent.on_dtmf(ev.digit)

    def _on_close(self, ev: CloseEvent) -> None:
        # the session no longer takes replies: keypad input from now on has nowhere to go
        self.ctx.room.off("sip_dtmf_received", self._on_dtmf)
        if ev.reason == CloseReason.ERROR:
            self._ended("failure")
        elif ev.reason == CloseReason.PARTICIPANT_DISCONNECTED:
            self._ended("caller")
        self._shutdown(f"the agent session closed ({ev.reason.value})")

    def _ended(self, by: metrics.EndReason | None) -> None:
        """The first reason seen is the call's (what follows is the job winding down)."""
        if self.ended_by is None and by is not None:
            self.ended_by = by

    async def aclose(self) -> None:
        # the agent hanging up ends the job before the caller is seen to leave
        self._ended("agent" if self.actions.ended else "shutdown")
        metrics.CALLS_ACTIVE.labels(self.path).dec()
        metrics.CALLS_ENDED.labels(self.path, self.ended_by or "shutdown").inc()
        room = self.ctx.room
        room.off("track_published", self._on_track_published)
        room.off("participant_disconnected", self._on_participant_disconnected)
        room.off("sip_dtmf_received", self._on_dtmf)
        self.metrics.close()
        await self.agent.end()
        await self.actions.aclose()
        if self.pacer is not None:
            await self.pacer.aclose()
        if self.model is not None:
            await self.model.aclose()
        await self.models.aclose()
        if self.writer is not None:
            self.writer.close()
        logger.info("call %s: closed", self.call_id)
