"""The RPC methods the bridge participant serves to the agent (see ``contract``).

Each answers ``{"ok": true}`` or raises ``rtc.RpcError`` with a message the agent can log or
say. Only an agent participant of the room may call them: the room holds just the bridge and
its dispatched agent, and nobody else gets to hang up or transfer someone's phone call.

Hanging up answers first and acts after: ending the call tears down this very room connection,
and the agent should learn that its request was accepted rather than see it time out.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from livekit import rtc

from sip.bridge import contract

logger = logging.getLogger(__name__)

OK: Final = json.dumps({"ok": True})
E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
MAX_REASON_CHARS: Final = 200

# Application error codes (LiveKit reserves 1001-1999 for its own).
BAD_REQUEST: Final = 400
FORBIDDEN: Final = 403
TRANSFER_FAILED: Final = 502


class BridgeActions(Protocol):
    def interrupt(self) -> None: ...

    def hang_up_soon(self, reason: str) -> None:
        """Start ending the call; returns at once."""

    async def transfer(self, to: str) -> None: ...


def _payload(data: rtc.RpcInvocationData) -> dict[str, Any]:
    try:
        payload = json.loads(data.payload) if data.payload.strip() else {}
    except json.JSONDecodeError as exc:
        raise rtc.RpcError(BAD_REQUEST, f"payload is not JSON: {exc.msg}") from exc
    if not isinstance(payload, dict):
        raise rtc.RpcError(BAD_REQUEST, "payload must be a JSON object")
    return payload


Handler = Callable[[rtc.RpcInvocationData], Awaitable[str]]


class BridgeRpc:
    def __init__(self, room: rtc.Room, actions: BridgeActions, call_id: str) -> None:
        self.room = room
        self.actions = actions
        self.call_id = call_id

    def register(self) -> None:
        local = self.room.local_participant
        local.register_rpc_method(contract.RPC_CLEAR, self._guarded(self.clear))
        local.register_rpc_method(contract.RPC_HANGUP, self._guarded(self.hangup))
        local.register_rpc_method(contract.RPC_TRANSFER, self._guarded(self.transfer))

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(data: rtc.RpcInvocationData) -> str:
            caller = self.room.remote_participants.get(data.caller_identity)
            if caller is None or not contract.is_agent(caller):
                logger.warning(
                    "call %s: refused %s from %r: not an agent of this room",
                    self.call_id,
                    data.method,
                    data.caller_identity,
                )
                raise rtc.RpcError(FORBIDDEN, "only the room's agent may control the call")
            return await handler(data)

        return guarded

    async def clear(self, data: rtc.RpcInvocationData) -> str:
        _payload(data)
        self.actions.interrupt()
        return OK

    async def hangup(self, data: rtc.RpcInvocationData) -> str:
        reason = _payload(data).get("reason") or "the agent ended the call"
        if not isinstance(reason, str):
            raise rtc.RpcError(BAD_REQUEST, "reason must be a string")
        self.actions.hang_up_soon(reason[:MAX_REASON_CHARS])
        return OK

    async def transfer(self, data: rtc.RpcInvocationData) -> str:
        to = _payload(data).get("to")
        if not isinstance(to, str) or not E164.fullmatch(to):
            raise rtc.RpcError(
                BAD_REQUEST, f"'to' must be an E.164 number like +15550100, got {to!r}"
            )
        try:
            await self.actions.transfer(to)
        except Exception as exc:
            logger.warning("call %s: transfer to %s failed: %s", self.call_id, to, exc)
            raise rtc.RpcError(TRANSFER_FAILED, f"transfer failed: {exc}") from exc
        logger.info("call %s: transferred to %s", self.call_id, to)
        return OK
