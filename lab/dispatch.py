"""Making sure each lab call gets its agent: re-dispatch when LiveKit found no worker free.

livekit-server assigns a named agent's job to a registered worker picked by the load the
worker reports (its host's CPU use, capped at 1.0), and skips any worker at 1.0 — "no workers
with sufficient capacity" — without trying again later. On a machine whose CPU the callers,
the servers and other people's work saturate, that happens now and then, and the call then
waits for an agent that never comes. The lab is measuring paths, not this machine's spare
capacity: when the arm's worker has not received the room's job request a few seconds after
the room appeared (its own log says so: it logs every job request with the room's name), the
lab asks again (``CreateDispatch``), and says so in the call's summary. The worker's log, not
the server's dispatch state, is the signal: a job whose process is still starting must not get
a second agent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from livekit import api

from trunkline.config import LiveKitCredentials

#: A room whose job request the worker has not logged this long after it appeared found no
#: worker.
GRACE_S: Final = 5.0
POLL_S: Final = 0.5
JOB_REQUEST: Final = "received job request"

RoomFinder = Callable[[api.LiveKitAPI], Awaitable[str | None]]


def named(room: str) -> RoomFinder:
    async def find(_lk: api.LiveKitAPI) -> str | None:
        return room

    return find


def newest_with_prefix(prefix: str, since: float) -> RoomFinder:
    """The newest room whose name starts with ``prefix`` created after ``since`` (epoch s):
    a SIP dispatch rule names its rooms prefix + caller + random."""

    async def find(lk: api.LiveKitAPI) -> str | None:
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        mine = [r for r in rooms if r.name.startswith(prefix) and r.creation_time >= since - 1]
        return max(mine, key=lambda r: r.creation_time).name if mine else None

    return find


class _LogTail:
    """The lines a growing log file gets from now on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        whole = data[: data.rfind(b"\n") + 1]  # the last line may be mid-write
        self.offset += len(whole)
        return whole.decode(errors="replace").splitlines()


@dataclass(frozen=True)
class Dispatcher:
    credentials: LiveKitCredentials
    http_url: str
    agent_name: str
    #: the arm's worker's log, where it names the room of every job request it receives
    worker_log: Path

    async def keep(
        self, room: RoomFinder, on_again: Callable[[], None], within_s: float = 90.0
    ) -> None:
        """Until the worker got the room's job request; ``on_again()`` at each re-dispatch."""
        c = self.credentials
        log = _LogTail(self.worker_log)
        requested: list[str] = []
        deadline = time.monotonic() + within_s
        async with api.LiveKitAPI(self.http_url, c.api_key, c.api_secret) as lk:
            name: str | None = None
            since = 0.0
            while time.monotonic() < deadline:
                requested += [line for line in log.new_lines() if JOB_REQUEST in line]
                if name is None and (name := await room(lk)) is not None:
                    since = time.monotonic()
                if name is not None:
                    if any(f'"room": "{name}"' in line for line in requested):
                        return
                    if time.monotonic() - since > GRACE_S:
                        await lk.agent_dispatch.create_dispatch(
                            api.CreateAgentDispatchRequest(agent_name=self.agent_name, room=name)
                        )
                        on_again()
                        since = time.monotonic()
                await asyncio.sleep(POLL_S)


class Watch:
    """``async with Watch(dispatcher, finder) as w:`` keeps the call dispatched in the
    background while the call is set up; ``w.redispatched`` says how often it had to."""

    def __init__(self, dispatcher: Dispatcher | None, room: RoomFinder) -> None:
        self.dispatcher = dispatcher
        self.room = room
        self.redispatched = 0
        self.failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def _again(self) -> None:
        self.redispatched += 1

    async def __aenter__(self) -> Watch:
        if self.dispatcher is not None:
            self._task = asyncio.create_task(self.dispatcher.keep(self.room, self._again))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is None:
            return
        self._task.cancel()
        (outcome,) = await asyncio.gather(self._task, return_exceptions=True)
        if isinstance(outcome, Exception):  # an API failure: the call went on without it
            self.failure = outcome
