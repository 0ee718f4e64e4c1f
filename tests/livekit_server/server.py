"""The server as one object: configuration, the aiohttp app, start/stop, and test handles."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web
from livekit import api
from livekit.protocol import room as room_pb

from . import auth
from .agents import AgentDispatcher
from .room import RoomRegistry
from .services import AgentDispatchService, RoomService, SipService, SipStore
from .signalling import SignalServer, SignalSettings
from .twirp import TwirpCall, TwirpServer

logger = logging.getLogger(__name__)

DEFAULT_API_KEY = "devkey"
DEFAULT_API_SECRET = "secret"
_SHUTDOWN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    empty_timeout_s: float = 300.0
    departure_timeout_s: float = 20.0


async def _not_found(request: web.Request) -> web.Response:
    """``/rtc/v1`` (single peer connection): absent, so SDKs fall back to ``/rtc``."""
    return web.Response(status=404, text="single peer connection mode is not supported")


class LiveKitTestServer:
    """A LiveKit-compatible server for tests: signalling, audio SFU, data, agents, Twirp."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.auth = auth.Authenticator(self.config.api_key, self.config.api_secret)
        self.rooms = RoomRegistry(
            empty_timeout=self.config.empty_timeout_s,
            departure_timeout=self.config.departure_timeout_s,
        )
        self.signal = SignalServer(self.auth, self.rooms, SignalSettings())
        self.agents = AgentDispatcher(self.auth, self.rooms, self.signal.server_info())
        self.sip = SipStore()
        self.twirp = TwirpServer(self.auth)
        RoomService(self.rooms).register(self.twirp)
        AgentDispatchService(self.rooms, self.agents).register(self.twirp)
        SipService(self.rooms, self.sip).register(self.twirp)
        self._runner: web.AppRunner | None = None
        self._port = self.config.port

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/rtc", self.signal.connect)
        app.router.add_get("/rtc/validate", self.signal.validate)
        app.router.add_get("/rtc/v1", _not_found)
        app.router.add_get("/rtc/v1/validate", _not_found)
        app.router.add_get("/agent", self.agents.connect)
        app.router.add_post("/twirp/{service}/{method}", self.twirp.handle)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app(), handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("LiveKit test server listening on %s", self.url)

    async def aclose(self) -> None:
        await self.agents.aclose()
        self.rooms.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LiveKitTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self._port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self._port}"

    @property
    def env(self) -> dict[str, str]:
        """The variables LiveKit SDKs, agents and the project read to find a server."""
        return {
            "LIVEKIT_URL": self.url,
            "LIVEKIT_API_KEY": self.config.api_key,
            "LIVEKIT_API_SECRET": self.config.api_secret,
        }

    def token(
        self,
        identity: str,
        room: str,
        *,
        name: str = "",
        kind: api.AccessToken.ParticipantKind = "standard",
        metadata: str = "",
        attributes: dict[str, str] | None = None,
        grants: api.VideoGrants | None = None,
        room_config: room_pb.RoomConfiguration | None = None,
    ) -> str:
        """A join token for this server; ``grants`` default to join + own-metadata updates."""
        video = dataclasses.replace(
            grants or api.VideoGrants(room_join=True, can_update_own_metadata=True), room=room
        )
        token = (
            api.AccessToken(self.config.api_key, self.config.api_secret)
            .with_identity(identity)
            .with_name(name)
            .with_kind(kind)
            .with_metadata(metadata)
            .with_attributes(attributes or {})
            .with_grants(video)
        )
        if room_config is not None:
            token = token.with_room_config(room_config)
        return token.to_jwt()

    def calls(self, service: str, method: str | None = None) -> list[TwirpCall]:
        """Twirp calls received by ``service`` (e.g. ``"SIP"``), optionally one method."""
        return self.twirp.calls_to(service, method)
