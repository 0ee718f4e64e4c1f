"""Bridge mode's backend for one Twilio call: a LiveKit room with the agent in it.

The sidecar keeps the Twilio side (protocol, limits, security); this backend joins the call's
room as the bridge participant the contract describes, publishes the caller, plays the agent to
the caller, serves the agent's RPCs and forwards key presses as SIP DTMF.

Either side leaving ends the call. The caller hanging up ends the media stream, and the sidecar
then closes this backend, which leaves and deletes the room (the worker's session ends with
it). The agent leaving, or LiveKit failing, hangs up the Twilio call. Whenever the call ends
because *LiveKit* failed — unreachable at join, no agent within ``agent_join_timeout_s``, or
gone mid-call for longer than ``reconnect_grace_s`` — the caller first hears a short apology:
never dead air, then a silent hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from livekit import rtc

from sip.bridge import apology, contract
from sip.bridge.gate import GateSettings
from sip.bridge.inbound import CallerAudio, InboundSettings
from sip.bridge.outbound import AgentAudio
from sip.bridge.rooms import LiveKitRooms, rtc_url
from sip.bridge.rpc import BridgeRpc
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.twilio.pacing import Pacing
from trunkline.logs import bind_call

logger = logging.getLogger(__name__)

#: Someone ended the room on purpose: hang up without apologising for a failure.
DELIBERATE: Final = frozenset(
    {
        rtc.DisconnectReason.PARTICIPANT_REMOVED,
        rtc.DisconnectReason.ROOM_DELETED,
        rtc.DisconnectReason.ROOM_CLOSED,
    }
)

#: RPC failures that mean the agent did not answer (every other error is an answer).
UNANSWERED: Final = frozenset(
    {
        rtc.RpcError.ErrorCode.CONNECTION_TIMEOUT,
        rtc.RpcError.ErrorCode.RESPONSE_TIMEOUT,
        rtc.RpcError.ErrorCode.RECIPIENT_DISCONNECTED,
        rtc.RpcError.ErrorCode.RECIPIENT_NOT_FOUND,
        rtc.RpcError.ErrorCode.SEND_FAILED,
    }
)


@dataclass(frozen=True)
class BridgeOptions:
    pacing: Pacing = field(default_factory=Pacing)
    gate: GateSettings = field(default_factory=GateSettings)
    inbound: InboundSettings = field(default_factory=InboundSettings)
    min_hold_ms: float = 60.0
    """Least hold of each stretch of agent audio: absorbs the room's arrival jitter. It costs
    the caller this much once per reply; an underrun costs them an audible gap."""
    connect_timeout_s: float = 5.0
    agent_join_timeout_s: float = 15.0
    """A dispatch no worker takes would otherwise leave the caller in silence indefinitely."""
    reconnect_grace_s: float = 1.5
    """The SDK retries a lost connection for ~20-30 s; a caller should not wait that long, nor
    in silence for more than ~2 s (issue 15). A connection back within it goes on; a server
    that died loses its rooms, so a resume could not save the call anyway."""
    leave_timeout_s: float = 5.0
    agent_liveness_timeout_s: float = 1.5
    """An agent that answers no ping (``trunkline.ping``) for this long is gone: its worker died
    without leaving, which LiveKit notices only after ~20 s. Long enough that one slow reply on
    a busy worker does not end a live call; short enough that the caller is told within 2 s."""
    ping_interval_s: float = 0.3
    """Pause between one ping's answer and the next ping."""


class BridgeCall:
    """A :class:`sip.sidecar.backend.CallBackend` that bridges the call into a LiveKit room."""

    def __init__(
        self,
        info: CallInfo,
        link: TwilioLink,
        control: CallControl,
        *,
        rooms: LiveKitRooms,
        options: BridgeOptions,
        apology_audio: bytes,
    ) -> None:
        self.info = info
        self.link = link
        self.control = control
        self.rooms = rooms
        self.options = options
        self.apology_audio = apology_audio
        self.room_name = contract.room_name(info.call_sid)
        # built in the call's own task (at its stream's start): its lines name the room too
        bind_call(room=self.room_name)
        self.room = rtc.Room()
        self.caller = CallerAudio(info.call_id, options.inbound)
        self.agent_audio = AgentAudio(
            link, options.pacing, options.gate, min_hold_ms=options.min_hold_ms
        )
        self.agent_identity: str | None = None
        self.end_reason: str | None = None
        self.apologised = False
        self._agent_joined = asyncio.Event()
        self._published = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._hangup: asyncio.Future[None] | None = None
        self._reconnect_timer: asyncio.TimerHandle | None = None
        self._dtmf_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._listen()

    @property
    def call_id(self) -> str:
        return self.info.call_id

    # --- CallBackend ------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the room and wait for the agent; any failure ends the call with the apology."""
        try:
            await self._join()
        except Exception as exc:
            self._end(f"could not join the room: {exc}", apologise=True)
            return
        try:
            async with asyncio.timeout(self.options.agent_join_timeout_s):
                await self._agent_joined.wait()
        except TimeoutError:
            self._end(
                f"no agent joined within {self.options.agent_join_timeout_s:g} s",
                apologise=True,
            )
            return
        self._spawn(self._watch_agent(), "liveness")

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        self.caller.push(pcm)

    def dtmf(self, digit: str) -> None:
        code = contract.DTMF_CODES.get(digit)
        if code is None:
            logger.warning("call %s: DTMF %r has no SIP code; dropped", self.call_id, digit)
            return
        self._spawn(self._send_dtmf(code, digit), "dtmf")

    async def aclose(self) -> None:
        self._closing = True
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
        if self._ending is not None and not self._ending.done():
            self._ending.cancel()  # an apology still playing: the caller is gone
            with contextlib.suppress(asyncio.CancelledError):
                await self._ending
        if self._hangup is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._hangup), self.options.leave_timeout_s)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.agent_audio.aclose()
        await self.caller.aclose()
        await self._leave()
        try:
            await self.rooms.delete_room(self.room_name)
        except Exception as exc:
            logger.warning(
                "call %s: could not delete room %s: %s", self.call_id, self.room_name, exc
            )
        logger.info(
            "call %s: left and deleted room %s (%s)",
            self.call_id,
            self.room_name,
            self.end_reason or "the caller hung up",
        )

    # --- joining ----------------------------------------------------------------------------

    async def _join(self) -> None:
        """Prepare the room and connect at the same time; publish the caller once both are done.

        The webhook already created the room with the agent's dispatch; creating it again is
        idempotent, and brings room and dispatch back should LiveKit have closed the room since.
        """
        prepare = asyncio.ensure_future(self._prepare_room())
        self._connecting = asyncio.ensure_future(self._connect())
        try:
            done, _ = await asyncio.wait([self._connecting], timeout=self.options.connect_timeout_s)
            if not done:
                raise TimeoutError(f"no connection within {self.options.connect_timeout_s:g} s")
            self._connecting.result()
            await prepare
        finally:
            if not prepare.done():
                prepare.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await prepare
        BridgeRpc(self.room, self, self.call_id).register()
        await self.caller.publish(self.room)
        self._published.set()
        for participant in self.room.remote_participants.values():
            self._on_participant(participant)
            for publication in participant.track_publications.values():
                if publication.track is not None:
                    self._on_track(publication.track, publication, participant)
        logger.info("call %s: bridged into room %s", self.call_id, self.room_name)

    async def _prepare_room(self) -> None:
        await self.rooms.create_room(self.room_name)

    async def _connect(self) -> None:
        token = self.rooms.join_token(self.info)
        options = rtc.RoomOptions(
            auto_subscribe=True, connect_timeout=self.options.connect_timeout_s
        )
        await self.room.connect(rtc_url(self.rooms.credentials.url), token, options)

    async def _leave(self) -> None:
        """Disconnect, also from a connection attempt still under way (it cannot be cancelled
        without orphaning the native connection)."""
        try:
            async with asyncio.timeout(self.options.leave_timeout_s):
                if self._connecting is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._connecting)
                await self.room.disconnect()
        except TimeoutError:
            logger.warning("call %s: leaving room %s timed out", self.call_id, self.room_name)

    # --- room events ------------------------------------------------------------------------

    def _listen(self) -> None:
        room = self.room
        room.on("participant_connected", self._on_participant)
        room.on("participant_disconnected", self._on_participant_left)
        room.on("track_subscribed", self._on_track)
        room.on("reconnecting", self._on_reconnecting)
        room.on("reconnected", self._on_reconnected)
        room.on("disconnected", self._on_disconnected)

    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        if self.agent_identity is None and contract.is_agent(participant):
            self.agent_identity = participant.identity
            logger.info("call %s: agent %s joined", self.call_id, participant.identity)
            self._agent_joined.set()

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if participant.identity != self.agent_identity:
            return
        if self.room.connection_state != rtc.ConnectionState.CONN_CONNECTED:
            # the SDK forgets everyone while it reconnects; whether the agent is really gone
            # is known once the connection is back (see _on_reconnected)
            return
        self._end("the agent left the room", apologise=False)

    def _on_track(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        self._on_participant(participant)
        if participant.identity == self.agent_identity and track.kind == rtc.TrackKind.KIND_AUDIO:
            self.agent_audio.play(track)

    def _on_reconnecting(self) -> None:
        logger.warning("call %s: LiveKit connection lost; reconnecting", self.call_id)
        if self._reconnect_timer is None:
            grace = self.options.reconnect_grace_s
            self._reconnect_timer = asyncio.get_running_loop().call_later(
                grace,
                lambda: self._end(f"LiveKit unreachable for {grace:g} s", apologise=True),
            )

    def _on_reconnected(self) -> None:
        logger.info("call %s: LiveKit connection restored", self.call_id)
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None
        if (
            self.agent_identity is not None
            and self.agent_identity not in self.room.remote_participants
        ):
            self._end("the agent left the room", apologise=False)

    def _on_disconnected(self, reason: rtc.DisconnectReason.ValueType) -> None:
        name = rtc.DisconnectReason.Name(reason)
        self._end(f"disconnected from LiveKit ({name})", apologise=reason not in DELIBERATE)

    # --- the agent's liveness ---------------------------------------------------------------

    async def _watch_agent(self) -> None:
        """Ping the agent until the call ends; silence for the liveness timeout ends the call.

        Any answer counts, an error one included (an agent that does not know the method, or
        whose handler failed, is still there); only a timeout, an undeliverable request or a
        departed recipient do not. The deadline runs from the last answer, not per ping, so
        one ping lost among answered ones does not end a call. While our own connection to
        LiveKit is down nobody can answer; that is the reconnect grace's to judge.
        """
        identity = self.agent_identity
        assert identity is not None
        timeout = self.options.agent_liveness_timeout_s
        loop = asyncio.get_running_loop()
        answered = loop.time()
        while True:
            if self.room.connection_state != rtc.ConnectionState.CONN_CONNECTED:
                # our own link is down: the reconnect grace judges that, not the agent's silence
                answered = loop.time()
                await asyncio.sleep(self.options.ping_interval_s)
                continue
            left = answered + timeout - loop.time()
            failure = "no answer"
            if left > 0:
                try:
                    async with asyncio.timeout(left):
                        await self.room.local_participant.perform_rpc(
                            destination_identity=identity,
                            method=contract.RPC_PING,
                            payload="",
                            response_timeout=timeout,
                            max_round_trip_latency=timeout,
                        )
                    answered = loop.time()
                except rtc.RpcError as e:
                    if e.code not in UNANSWERED:
                        answered = loop.time()
                    else:
                        failure = e.message
                except TimeoutError:
                    pass
            connected = self.room.connection_state == rtc.ConnectionState.CONN_CONNECTED
            if connected and loop.time() - answered >= timeout:
                logger.warning(
                    "call %s: agent %s answered no ping for %g s (%s)",
                    self.call_id,
                    identity,
                    timeout,
                    failure,
                )
                self._end(f"the agent stopped answering for {timeout:g} s", apologise=True)
                return
            await asyncio.sleep(self.options.ping_interval_s)

    # --- actions (BridgeRpc calls these) ----------------------------------------------------

    def interrupt(self) -> None:
        self.agent_audio.interrupt()

    def hang_up_soon(self, reason: str) -> None:
        self._end(reason, apologise=False)

    async def transfer(self, to: str) -> None:
        await self.control.transfer(to)

    # --- ending -----------------------------------------------------------------------------

    def _end(self, reason: str, *, apologise: bool) -> None:
        """End the call from our side, once; the sidecar then closes this backend."""
        if self._closing or self._ending is not None:
            return
        self.end_reason = reason
        logger.info("call %s: ending: %s", self.call_id, reason)
        self._ending = asyncio.create_task(
            self._finish(reason, apologise), name=f"bridge-end-{self.call_id}"
        )

    async def _finish(self, reason: str, apologise: bool) -> None:
        if apologise:
            self.agent_audio.interrupt()
            await self.agent_audio.aclose()
            self.apologised = await apology.play(self.link, self.apology_audio)
        self._hangup = asyncio.ensure_future(self.control.hang_up(reason, failed=apologise))
        await asyncio.shield(self._hangup)

    async def _send_dtmf(self, code: int, digit: str) -> None:
        async with self._dtmf_lock:  # FIFO: digits leave in the order they were pressed
            await self._published.wait()
            try:
                await self.room.local_participant.publish_dtmf(code=code, digit=digit)
            except Exception as exc:  # the room is going away; the call ends with it
                logger.warning("call %s: DTMF %s not sent: %s", self.call_id, digit, exc)
                return
            logger.info("call %s: DTMF %s sent to the room", self.call_id, digit)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(coro, name=f"bridge-{what}-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
