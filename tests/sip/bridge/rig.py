"""The sidecar in bridge mode against the real livekit-server, and a simulated Twilio caller."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from lab.caller.call import CallerOptions, SimulatedCaller
from lab.caller.cli import default_speech
from lab.caller.results import CallResult
from lab.caller.runner import load_speech
from sip.bridge import apology
from sip.bridge.bridge import Bridge
from sip.bridge.call import BridgeCall, BridgeOptions
from sip.bridge.rooms import RoomSettings
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.twilio.rest import TwilioCalls
from tests.waiting import eventually
from trunkline.config import LiveKitCredentials, settings_from_env
from trunkline.stack import LocalStack

SPEECH = load_speech(default_speech())
APOLOGY = apology.render()
#: Short waits so failure paths are quick to test; production defaults are in BridgeOptions.
OPTIONS = BridgeOptions(agent_join_timeout_s=3.0, reconnect_grace_s=1.0)


@dataclass
class Rig:
    livekit: LocalStack | None
    url: str
    bridge: Bridge
    state: SidecarState
    calls: list[BridgeCall] = field(default_factory=list)

    async def place(self, **options: Any) -> CallResult:
        defaults: dict[str, Any] = {
            "speech": SPEECH,
            "turns": 1,
            "quiet_ms": 400,
            "linger_s": 0.5,
            "greeting_timeout_s": 10.0,
            "reply_timeout_s": 10.0,
        }
        async with aiohttp.ClientSession() as http:
            opts = CallerOptions(url=self.url, **{**defaults, **options})
            return await SimulatedCaller(opts, http).run()

    async def call(self, *during: Coroutine[Any, Any, object], **options: Any) -> CallResult:
        """One whole call with ``during`` (what the agent side does meanwhile) running
        alongside; returns once the sidecar has released the call."""
        actions = [asyncio.ensure_future(action) for action in during]
        try:
            result = await self.place(**options)
            await asyncio.gather(*actions)
        finally:
            for action in actions:
                action.cancel()
        await self.wait_idle()
        return result

    async def wait_idle(self) -> None:
        """The sidecar released every call (backend closed: room left and deleted)."""
        await eventually(lambda: self.state.active_calls == 0, within_s=15)


def bridge_tasks() -> list[asyncio.Task[object]]:
    """The calls' own tasks (audio pumps, Twilio writers, endings) still running."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t.get_name().startswith(("bridge-", "twilio-"))
    ]


@contextlib.asynccontextmanager
async def bridge_rig(
    credentials: LiveKitCredentials,
    livekit: LocalStack | None = None,
    *,
    options: BridgeOptions = OPTIONS,
    rest: TwilioCalls | None = None,
    room_settings: RoomSettings | None = None,
) -> AsyncIterator[Rig]:
    env = {
        "LIVEKIT_URL": credentials.url,
        "LIVEKIT_API_KEY": credentials.api_key,
        "LIVEKIT_API_SECRET": credentials.api_secret,
    }
    settings = settings_from_env(env)
    bridge = Bridge(
        credentials,
        settings.agent_name,
        apology_audio=APOLOGY,
        options=options,
        room_settings=room_settings,
    )
    async with bridge.rooms:
        calls: list[BridgeCall] = []

        def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> BridgeCall:
            call = bridge.new_call(info, link, control)
            calls.append(call)
            return call

        app = create_app(settings, factory, rest=rest, admission=bridge.admit)
        server = TestServer(app)
        await server.start_server()
        try:
            yield Rig(livekit, str(server.make_url("")), bridge, app[STATE], calls)
        finally:
            await server.close()
            await asyncio.sleep(0)


def apology_start(media: list[tuple[float, int]], *, after: float, pause_s: float = 0.4) -> float:
    """When the caller started hearing the apology: the first media arriving after ``after``
    that follows a pause of ``pause_s`` (the agent's last buffered frames drain right after a
    failure, then nothing, then the apology)."""
    arrivals = [t for t, _ in media]
    for before, t in itertools.pairwise(arrivals):
        if t > after and t - before >= pause_s:
            return t
    raise AssertionError("no media after a pause: the caller was never told")
