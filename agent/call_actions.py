"""What the agent can do to the call itself, whichever path the caller used.

The agent is defined once; hanging up and transferring differ per path (close the Twilio
stream / REST, SIP REFER, nothing for a browser). Each path hands the agent an implementation of
this protocol, so tools call ``actions.hang_up()`` without knowing the transport.
"""

from __future__ import annotations

from typing import Literal, Protocol

CallerPath = Literal["twilio-ws", "sip", "webrtc"]


class TransferUnsupported(Exception):
    """This path cannot transfer calls (e.g. a browser caller has no phone line)."""


class CallActions(Protocol):
    @property
    def path(self) -> CallerPath: ...

    @property
    def call_id(self) -> str: ...

    async def hang_up(self, reason: str) -> None:
        """End the call for the caller. Idempotent."""

    async def transfer(self, to: str) -> None:
        """Hand the caller to ``to`` (E.164 or SIP URI); raises :class:`TransferUnsupported`."""
