"""Bridge mode for one sidecar process: admission at the webhook, one backend per stream.

The webhook is where a failing LiveKit still costs the caller least: Twilio has not connected
the stream yet, so an answer of ``<Say>`` + ``<Hangup>`` gives them a proper apology in Twilio's
own voice. The quick RoomService call that decides it is the one the call needs anyway —
creating its room — so a healthy LiveKit costs no extra round trip.
"""

from __future__ import annotations

import logging

from sip.bridge import apology, contract
from sip.bridge.call import BridgeCall, BridgeOptions
from sip.bridge.rooms import LiveKitError, LiveKitRooms, RoomSettings
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.ops import CachedCheck
from trunkline.config import LiveKitCredentials
from trunkline.logs import bind_call

logger = logging.getLogger(__name__)


class Bridge:
    """Use inside ``async with bridge.rooms:`` (the LiveKit API client's lifetime)."""

    def __init__(
        self,
        credentials: LiveKitCredentials,
        agent_name: str,
        *,
        apology_audio: bytes,
        options: BridgeOptions | None = None,
        room_settings: RoomSettings | None = None,
    ) -> None:
        self.rooms = LiveKitRooms(credentials, agent_name, room_settings or RoomSettings())
        self.options = options or BridgeOptions()
        self.apology_audio = apology_audio

    async def admit(self, call_sid: str) -> str | None:
        """Create the call's room; None admits the call, else the message to apologise with."""
        room = contract.room_name(call_sid)
        bind_call(room=room)
        try:
            await self.rooms.create_room(room)
        except LiveKitError as exc:
            logger.error("call %s: refused at the webhook: LiveKit failed: %s", call_sid, exc)
            return apology.APOLOGY_TEXT
        return None

    def readiness_check(self) -> CachedCheck:
        """``/readyz``'s LiveKit check: an authenticated API call answered in time."""

        async def probe() -> str | None:
            try:
                await self.rooms.probe()
            except LiveKitError as exc:
                return str(exc)
            return None

        return CachedCheck("livekit", probe)

    def new_call(self, info: CallInfo, link: TwilioLink, control: CallControl) -> BridgeCall:
        """The sidecar's :data:`~sip.sidecar.backend.BackendFactory` in bridge mode."""
        return BridgeCall(
            info,
            link,
            control,
            rooms=self.rooms,
            options=self.options,
            apology_audio=self.apology_audio,
        )
