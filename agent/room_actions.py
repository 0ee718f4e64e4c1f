"""Hang-up and transfer for a caller in a LiveKit room, per path.

In a room the agent cannot hang up a phone itself: the line belongs to whoever brought the
caller in. LiveKit SIP ends the SIP leg when its room is deleted and moves it with SIP REFER;
the Twilio bridge owns its Twilio call and is asked over RPC (see ``agent.bridge_contract``);
a browser is disconnected by deleting the room and has no line to transfer. Deleting the room
is also the fallback when the bridge does not answer, so ``end_call`` ends the call on every
path even if the other side misbehaves.
"""

from __future__ import annotations

import asyncio
import json
import logging

from livekit import api, rtc
from livekit.agents import JobContext

from agent.bridge_contract import RPC_CLEAR, RPC_HANGUP, RPC_TRANSFER
from agent.call_actions import CallerPath, TransferUnsupported

logger = logging.getLogger(__name__)


def sip_transfer_target(to: str) -> str:
    """LiveKit's REFER target: a ``sip:`` or ``tel:`` URI; a bare number becomes ``tel:``."""
    return to if to.startswith(("sip:", "tel:")) else f"tel:{to}"


class RoomCallActions:
    def __init__(
        self, ctx: JobContext, caller: rtc.RemoteParticipant, path: CallerPath, call_id: str
    ) -> None:
        self._ctx = ctx
        self._caller = caller
        self._path: CallerPath = path
        self._call_id = call_id
        self._ended = False
        self._signals: set[asyncio.Task[None]] = set()

    @property
    def path(self) -> CallerPath:
        return self._path

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def ended(self) -> bool:
        """Whether the agent has hung up (the call's end is then the agent's doing)."""
        return self._ended

    async def hang_up(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        logger.info("call %s [%s]: hanging up (%s)", self._call_id, self._path, reason)
        if self._path == "twilio-ws":
            try:
                await self._rpc(RPC_HANGUP, {"reason": reason})
            except rtc.RpcError as e:
                if self._caller.identity in self._ctx.room.remote_participants:
                    logger.warning(
                        "call %s: the bridge did not hang up (%s); deleting the room instead",
                        self._call_id,
                        e.message,
                    )
                    await self._ctx.delete_room()
        else:
            await self._ctx.delete_room()
        self._ctx.shutdown(reason)

    async def transfer(self, to: str) -> None:
        logger.info("call %s [%s]: transferring to %s", self._call_id, self._path, to)
        if self._path == "webrtc":
            raise TransferUnsupported("the caller is in a browser, with no phone line to transfer")
        if self._path == "sip":
            # the request JobContext.transfer_sip_participant() makes, made directly: that
            # helper also logs every failure at ERROR from a task of its own, even one its
            # caller handles, as this refusal is handled here (livekit-agents 1.8.9)
            request = api.TransferSIPParticipantRequest(
                room_name=self._ctx.room.name,
                participant_identity=self._caller.identity,
                transfer_to=sip_transfer_target(to),
            )
            try:
                await self._ctx.api.sip.transfer_sip_participant(request)
            except api.TwirpError as e:
                # the detail is for the operator; the model gets a sentence it can pass on
                logger.warning(
                    "call %s: LiveKit did not transfer the call: %s (%s)",
                    self._call_id,
                    e.message,
                    e.code,
                )
                raise TransferUnsupported("the phone network did not accept the transfer") from e
            return
        try:
            await self._rpc(RPC_TRANSFER, {"to": to})
        except rtc.RpcError as e:
            raise TransferUnsupported(e.message) from e

    def send_clear(self) -> None:
        """Tell the bridge the agent was interrupted (``trunkline.clear``), without waiting.

        Called from the session's ``clear_buffer()``, which cannot await; a bridge that fails to
        answer costs a log line, never the call.
        """
        task = asyncio.create_task(self._clear())
        self._signals.add(task)
        task.add_done_callback(self._signals.discard)

    async def _clear(self) -> None:
        try:
            await self._rpc(RPC_CLEAR, {})
        except rtc.RpcError as e:
            logger.warning("call %s: the bridge did not take clear (%s)", self._call_id, e.message)

    async def aclose(self) -> None:
        """Drop signals still in flight: the call they were about is over."""
        for task in list(self._signals):
            task.cancel()
        await asyncio.gather(*self._signals, return_exceptions=True)

    async def _rpc(self, method: str, payload: dict[str, str]) -> str:
        return await self._ctx.room.local_participant.perform_rpc(
            destination_identity=self._caller.identity,
            method=method,
            payload=json.dumps(payload),
        )
