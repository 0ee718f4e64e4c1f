"""Real ``livekit.rtc`` participants and API calls for tests against the real stack.

These drive the SDK and the server API exactly as product code would: what a test checks is
what livekit-server did, seen through its public faces (rooms, participants, tracks, events).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from livekit import agents, api, rtc
from livekit.protocol import room as room_pb
from livekit.rtc.room import EventTypes

from trunkline.stack import LocalStack

SAMPLE_RATE = 48000
FRAME_MS = 10
EVENT_TIMEOUT_S = 10.0


class Events:
    """A room's events, queued so a test can await them in order."""

    def __init__(self, room: rtc.Room, *names: EventTypes) -> None:
        self._queues: defaultdict[EventTypes, asyncio.Queue[tuple[Any, ...]]] = defaultdict(
            asyncio.Queue
        )
        for name in names:
            room.on(name, self._collector(name))

    def _collector(self, name: EventTypes) -> Callable[..., None]:
        queue = self._queues[name]
        return lambda *args: queue.put_nowait(args)

    async def next(
        self,
        name: EventTypes,
        where: Callable[..., bool] = lambda *args: True,
    ) -> tuple[Any, ...]:
        """The next ``name`` event whose arguments satisfy ``where`` (earlier ones dropped)."""
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                args = await self._queues[name].get()
                if where(*args):
                    return args

    def pending(self, name: EventTypes) -> int:
        return self._queues[name].qsize()


def token(
    stack: LocalStack,
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
    """A join token for ``stack``; ``grants`` default to join + own-metadata updates."""
    video = dataclasses.replace(
        grants or api.VideoGrants(room_join=True, can_update_own_metadata=True), room=room
    )
    jwt = (
        api.AccessToken(stack.api_key, stack.api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_kind(kind)
        .with_metadata(metadata)
        .with_attributes(attributes or {})
        .with_grants(video)
    )
    if room_config is not None:
        jwt = jwt.with_room_config(room_config)
    return jwt.to_jwt()


@contextlib.asynccontextmanager
async def server_api(stack: LocalStack) -> AsyncIterator[api.LiveKitAPI]:
    """livekit-server's Twirp API, as an operator's code would call it."""
    async with api.LiveKitAPI(stack.http_url, stack.api_key, stack.api_secret) as lkapi:
        yield lkapi


async def room_names(stack: LocalStack) -> set[str]:
    async with server_api(stack) as lkapi:
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
    return {room.name for room in listed.rooms}


async def identities(stack: LocalStack, room: str) -> list[str]:
    """Who is in ``room`` now, as the server sees it (empty when the room does not exist)."""
    async with server_api(stack) as lkapi:
        try:
            listed = await lkapi.room.list_participants(api.ListParticipantsRequest(room=room))
        except api.TwirpError:
            return []
    return sorted(p.identity for p in listed.participants)


async def registered(server: agents.AgentServer, within_s: float = 15.0) -> str:
    """Until ``server`` (an in-process worker) has registered with LiveKit; its worker id.

    LiveKit hands a dispatch only to a worker registered at that moment, so a test that
    dispatches before this has returned would wait for an agent that never comes.
    """
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_registered(worker_id: str, _info: object) -> None:
        if not done.done():
            done.set_result(worker_id)

    server.on("worker_registered", on_registered)
    try:
        if server.id != "unregistered":
            return server.id
        async with asyncio.timeout(within_s):
            return await done
    finally:
        server.off("worker_registered", on_registered)


async def participant(
    room: rtc.Room, where: Callable[[rtc.RemoteParticipant], bool], within_s: float = 10.0
) -> rtc.RemoteParticipant:
    """The first remote participant of ``room`` that satisfies ``where``, once one does.

    Polls the room's state rather than awaiting one event: what the condition looks at (an
    attribute, say) may arrive with the join or in an update after it.
    """
    async with asyncio.timeout(within_s):
        while True:
            for remote in room.remote_participants.values():
                if where(remote):
                    return remote
            await asyncio.sleep(0.02)


async def join(
    stack: LocalStack,
    identity: str,
    room: str,
    *,
    auto_subscribe: bool = True,
    **claims: Any,
) -> rtc.Room:
    """A connected SDK participant; ``claims`` go to :func:`token`."""
    client = rtc.Room()
    await client.connect(
        stack.url,
        token(stack, identity, room, **claims),
        rtc.RoomOptions(auto_subscribe=auto_subscribe),
    )
    return client


@contextlib.asynccontextmanager
async def joined(
    stack: LocalStack, identity: str, room: str, **kwargs: Any
) -> AsyncIterator[rtc.Room]:
    client = await join(stack, identity, room, **kwargs)
    try:
        yield client
    finally:
        await client.disconnect()


def sine(
    frequency: float, start: int, count: int, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.3
) -> np.ndarray:
    t = (np.arange(count) + start) / sample_rate
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


class Tone:
    """A microphone track playing a sine wave, paced by the SDK's AudioSource.

    ``sample_rate`` is what the publisher captures at (8000 for a telephony bridge); the SDK
    resamples to Opus' 48 kHz as it would for product code.
    """

    def __init__(self, frequency: float, sample_rate: int = SAMPLE_RATE) -> None:
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.source = rtc.AudioSource(sample_rate, 1)
        self.track = rtc.LocalAudioTrack.create_audio_track(f"tone-{frequency:g}", self.source)
        self._task: asyncio.Task[None] | None = None

    async def _play(self) -> None:
        count = self.sample_rate * FRAME_MS // 1000
        start = 0
        while True:
            samples = sine(self.frequency, start, count, self.sample_rate)
            start += count
            await self.source.capture_frame(
                rtc.AudioFrame(samples.tobytes(), self.sample_rate, 1, count)
            )

    async def publish(self, room: rtc.Room) -> rtc.LocalTrackPublication:
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await room.local_participant.publish_track(self.track, options)
        self._task = asyncio.create_task(self._play())
        return publication

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.source.aclose()


async def record(track: rtc.Track, seconds: float, skip_seconds: float = 0.5) -> np.ndarray:
    """Mono 48 kHz samples received on ``track``, after a settling period."""
    wanted = int(seconds * SAMPLE_RATE)
    skip = int(skip_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    have = 0
    stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
    try:
        async for event in stream:
            chunk = np.frombuffer(event.frame.data, dtype=np.int16)
            if skip > 0:
                skip -= len(chunk)
                continue
            chunks.append(chunk)
            have += len(chunk)
            if have >= wanted:
                break
    finally:
        await stream.aclose()
    return np.concatenate(chunks)[:wanted]


def dominant_frequency(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * sample_rate / len(samples))


def tone_to_noise_db(
    samples: np.ndarray, frequency: float, sample_rate: int = SAMPLE_RATE
) -> float:
    """Energy within ±20 Hz of ``frequency`` against everything else, in dB."""
    windowed = samples.astype(np.float64) * np.hanning(len(samples))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    band = np.abs(freqs - frequency) <= 20.0
    return float(10 * np.log10(power[band].sum() / max(power[~band].sum(), 1e-12)))
