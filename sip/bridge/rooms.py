"""The LiveKit server calls the bridge makes: create a call's room with the agent, delete it.

Every call is bounded by ``api_timeout_s``: the webhook decides from the answer to
``CreateRoom`` whether to connect the caller or apologise, and Twilio waits on the webhook, so a
LiveKit that does not answer must cost the caller seconds, not the SDK's default ten. Failures
of any kind (transport, timeout, a Twirp error) surface as :class:`LiveKitError` with the step
that failed, so logs say what was being attempted.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import aiohttp
from livekit import api

from sip.bridge import contract
from sip.livekit_errors import livekit_failure
from sip.sidecar.backend import CallInfo
from trunkline.config import LiveKitCredentials

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The room readiness probes ask about; never created (call rooms are ``twilio-<CallSid>``).
PROBE_ROOM = "trunkline-readiness-probe"


def rtc_url(url: str) -> str:
    """LIVEKIT_URL may be given as http(s) (the API's scheme); the SDK connects over ws(s)."""
    return "ws" + url[4:] if url.startswith("http") else url


class LiveKitError(RuntimeError):
    """A LiveKit server call failed or did not answer in time."""


@dataclass(frozen=True)
class RoomSettings:
    api_timeout_s: float = 2.0
    empty_timeout_s: int = 60
    """LiveKit closes a room nobody joined after this long: a webhook whose media stream never
    arrives leaves no room behind, even if this process is gone."""
    departure_timeout_s: int = 10
    token_ttl: datetime.timedelta = datetime.timedelta(minutes=10)
    """Only the join needs it; LiveKit refreshes a connected participant's token itself."""


class LiveKitRooms:
    """One process's LiveKit API client, shared by every call (one HTTP connection pool)."""

    def __init__(
        self, credentials: LiveKitCredentials, agent_name: str, settings: RoomSettings
    ) -> None:
        self.credentials = credentials
        self.agent_name = agent_name
        self.settings = settings
        self._api: api.LiveKitAPI | None = None

    async def __aenter__(self) -> LiveKitRooms:
        self._api = api.LiveKitAPI(
            self.credentials.url,
            self.credentials.api_key,
            self.credentials.api_secret,
            timeout=aiohttp.ClientTimeout(total=self.settings.api_timeout_s),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    @property
    def client(self) -> api.LiveKitAPI:
        if self._api is None:
            raise RuntimeError("LiveKitRooms is used outside its `async with`")
        return self._api

    async def _call(self, what: str, request: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.settings.api_timeout_s):
                return await request
        except TimeoutError as exc:
            raise LiveKitError(
                f"{what}: no answer within {self.settings.api_timeout_s:g} s"
            ) from exc
        except api.TwirpError as exc:
            raise LiveKitError(f"{what}: {livekit_failure(exc)}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise LiveKitError(f"{what}: {exc}") from exc

    async def create_room(self, room: str) -> None:
        """Create ``room`` with the agent dispatched into it by name, or keep it as it is
        (LiveKit's CreateRoom is idempotent: an existing room is neither changed nor
        dispatched to again).

        The dispatch must be part of the room: LiveKit gives a room created without one a
        dispatch for every *unnamed* agent of the project, which would join each Twilio call
        beside ours. The agent joins now and waits for its caller; a room whose stream never
        arrives still closes after ``empty_timeout_s`` (an agent does not keep a room open).
        """
        request = api.CreateRoomRequest(
            name=room,
            empty_timeout=self.settings.empty_timeout_s,
            departure_timeout=self.settings.departure_timeout_s,
            agents=[api.RoomAgentDispatch(agent_name=self.agent_name)],
        )
        await self._call(f"CreateRoom {room}", self.client.room.create_room(request))

    async def probe(self) -> None:
        """Raise :class:`LiveKitError` unless LiveKit answers an authenticated call: the
        cheapest one there is (list one room, by a name no call uses), bounded like the rest."""
        request = api.ListRoomsRequest(names=[PROBE_ROOM])
        await self._call("ListRooms", self.client.room.list_rooms(request))

    async def delete_room(self, room: str) -> None:
        """Delete ``room`` (disconnecting whoever is left); a room already gone is fine."""
        try:
            await self._call(
                f"DeleteRoom {room}",
                self.client.room.delete_room(api.DeleteRoomRequest(room=room)),
            )
        except LiveKitError as exc:
            cause = exc.__cause__
            if isinstance(cause, api.TwirpError) and cause.code == api.TwirpErrorCode.NOT_FOUND:
                return
            raise

    def join_token(self, info: CallInfo) -> str:
        """The bridge participant's token: its identity, the contract's attributes, and only
        the grants it needs (join this room, publish the caller's audio, data for RPC/DTMF)."""
        room = contract.room_name(info.call_sid)
        grants = api.VideoGrants(
            room_join=True,
            room=room,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
        )
        return (
            api.AccessToken(self.credentials.api_key, self.credentials.api_secret)
            .with_identity(contract.bridge_identity(info.call_sid))
            .with_name(f"Twilio caller {info.from_number}".strip())
            .with_kind("standard")
            .with_attributes(
                contract.bridge_attributes(info.call_sid, info.from_number, info.to_number)
            )
            .with_grants(grants)
            .with_ttl(self.settings.token_ttl)
            .to_jwt()
        )
