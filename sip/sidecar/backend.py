"""What the media-stream handler needs from whatever answers the call.

Two implementations exist: the in-process agent session (local mode) and the LiveKit room
bridge. The handler knows only this interface, so protocol handling, limits and security are
shared by both and tested once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sip.sidecar.link import TwilioLink


@dataclass(frozen=True)
class CallInfo:
    call_sid: str
    stream_sid: str
    account_sid: str
    from_number: str = ""
    to_number: str = ""
    custom_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def call_id(self) -> str:
        return self.call_sid


class CallControl(Protocol):
    """Actions a backend may take on the Twilio call it serves."""

    async def hang_up(self, reason: str, *, failed: bool = False) -> None:
        """End the call; ``failed``: because the answering side failed (metrics tell
        failures from calls the agent ended on purpose)."""

    async def transfer(self, to: str) -> None: ...


class CallBackend(Protocol):
    async def start(self) -> None:
        """Get ready to answer; audio pushed before this returns must be kept."""

    def push_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """Caller audio, 8 kHz mono PCM16, in arrival order (gaps already filled)."""

    def dtmf(self, digit: str) -> None: ...

    async def aclose(self) -> None:
        """Release everything; called exactly once when the call ends for any reason."""


BackendFactory = Callable[[CallInfo, TwilioLink, CallControl], CallBackend]
