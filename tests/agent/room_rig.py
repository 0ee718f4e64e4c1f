"""A real agent worker against the real LiveKit server, and callers that talk to it.

The worker is ``agent.worker.build_server`` run in-process with thread jobs (the same entrypoint
``python agent.py`` runs in job processes), registered with livekit-server by name; the model
is the simulator, served on the test's loop so a test can look inside its sessions. Callers are
real SDK participants: they publish speech through an ``rtc.AudioSource`` and record what the
agent's track delivers, as a browser, LiveKit SIP or the Twilio bridge would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from livekit import agents, api, rtc

from agent.sim.embedded import RunningSimulator, run_simulator
from agent.sim.options import SimOptions
from agent.sim.script import Script
from agent.sim.session import SimSession
from agent.sim.timing import Chunking, ThinkTime
from agent.worker import build_server
from lab.caller.audio import read_wav
from sip import g711
from tests.realstack.clients import registered, token
from tests.waiting import eventually
from trunkline.config import DEFAULT_AGENT_NAME
from trunkline.resample import resample
from trunkline.stack import LocalStack
from trunkline.turnlog import TurnRecord, read_turnlogs

Pcm = npt.NDArray[np.int16]

SPEECH_WAV = Path(__file__).parents[2] / "trunkline" / "data" / "speech" / "arctic_a0007.wav"
RATE = 48000
FRAME_MS = 10
AGENT_STATE = "lk.agent.state"
#: where the code of the worker, its jobs and the SDK lives
AGENT_CODE = (
    "/livekit/agents/",
    "/livekit/plugins/",
    "/livekit/rtc/",
    str(Path(__file__).parents[2] / "agent") + "/",
)
#: the name livekit-agents gives a thread running a job
JOB_THREAD = "job_thread_runner"
#: how long one step of a call (a reply, a hang-up, a job ending) may take on a busy machine
STEP_S = 15.0
#: a 20 ms window louder than this (dBFS) counts as audible
AUDIBLE_DBFS = -45.0
#: silence on the agent's track for this long means a reply has fully arrived
SETTLED_MS = 300


def speech(rate: int = RATE, seconds: float | None = None) -> Pcm:
    """The bundled CMU ARCTIC clip at ``rate`` (its first ``seconds``: 0.4 s lead-in, then
    speech until 3.4 s)."""
    pcm, source_rate = read_wav(SPEECH_WAV)
    pcm = resample(pcm, source_rate, rate)
    return pcm if seconds is None else pcm[: int(seconds * rate)]


def ulaw_speech(seconds: float | None = None) -> Pcm:
    """The clip as a PSTN leg carries it: 8 kHz, through G.711 μ-law and back."""
    return g711.decode(g711.encode(speech(8000, seconds)))


def audible_ms(pcm: Pcm, rate: int = RATE) -> float:
    """How much of ``pcm`` is louder than ``AUDIBLE_DBFS``, in 20 ms windows."""
    window = rate // 50
    usable = len(pcm) // window * window
    if usable == 0:
        return 0.0
    frames = pcm[:usable].astype(np.float64).reshape(-1, window) / 32768.0
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = 20 * np.log10(np.maximum(rms, 1e-9)) > AUDIBLE_DBFS
    return float(np.count_nonzero(loud) * 20)


def voice_band_share(pcm: Pcm, rate: int = RATE) -> float:
    """The share of the signal's energy between 100 Hz and 4 kHz, where speech lives."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    band = (freqs >= 100) & (freqs <= 4000)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-12))


def sim_options(script: Script) -> SimOptions:
    return SimOptions(think=ThinkTime.fixed(200), chunking=Chunking.STEADY, script=script)


@dataclass
class Worker:
    stack: LocalStack
    agent_server: agents.AgentServer
    sim: RunningSimulator
    turn_log: Path
    #: every simulator session opened so far (the simulator forgets ended ones)
    sessions: list[SimSession]

    def session(self) -> SimSession:
        (only,) = self.sessions
        return only

    def turns(self) -> list[TurnRecord]:
        log = read_turnlogs([self.turn_log])
        assert not log.problems
        return sorted(log.records, key=lambda r: r.turn)

    async def wait_idle(self) -> None:
        """The job ended and took its thread and its model connection with it."""
        await eventually(lambda: not self.agent_server.active_jobs, within_s=STEP_S)
        await eventually(lambda: JOB_THREAD not in thread_names(), within_s=STEP_S)
        await eventually(lambda: not self.sim.simulator.sessions, within_s=STEP_S)
        await eventually(lambda: not self.sim.simulator.sockets, within_s=STEP_S)


def agent_tasks() -> list[asyncio.Task[Any]]:
    """Pending tasks on this loop running LiveKit's SDK, agents or plugins, or ``agent/``."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is asyncio.current_task() or task.done() or code is None:
            continue
        if any(part in code.co_filename for part in AGENT_CODE):
            found.append(task)
    return found


def thread_names() -> list[str]:
    return [t.name for t in threading.enumerate()]


@contextlib.asynccontextmanager
async def running_worker(
    stack: LocalStack, script: Script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    """The worker registered as ``trunkline`` with ``stack``, the simulator as its model.

    ``LIVEKIT_*`` must point at ``stack`` (the ``livekit_env`` fixture does it)."""
    async with run_simulator(sim_options(script)) as sim:
        turn_log = tmp_path / "turns.jsonl"
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("AGENT_NAME", raising=False)
        monkeypatch.setenv("TRUNKLINE_SIM_URL", sim.base_url)
        monkeypatch.setenv("TRUNKLINE_TURN_LOG", str(turn_log))
        sessions: list[SimSession] = []
        opened = sim.simulator.open_session

        def recording_open(*args: Any, **kwargs: Any) -> SimSession:
            session = opened(*args, **kwargs)
            sessions.append(session)
            return session

        sim.simulator.open_session = recording_open  # type: ignore[method-assign]
        agent_server = build_server(os.environ, job_executor_type=agents.JobExecutorType.THREAD)
        task = asyncio.create_task(agent_server.run(devmode=True))
        try:
            await registered(agent_server)
            yield Worker(stack, agent_server, sim, turn_log, sessions)
        finally:
            await agent_server.aclose()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # reached only when the test passed: the worker, its jobs and the callers left no task behind
    await eventually(lambda: not agent_tasks(), within_s=STEP_S)


def dispatch() -> api.RoomConfiguration:
    """What a browser token, a SIP dispatch rule or the bridge puts in the room: the agent."""
    return api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=DEFAULT_AGENT_NAME)])


def is_agent(participant: rtc.Participant) -> bool:
    return participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT


class Caller:
    """A participant that speaks clips (silence in between) and records the agent's audio."""

    def __init__(self, room: rtc.Room, sample_rate: int = RATE) -> None:
        self.room = room
        self.sample_rate = sample_rate
        self.source = rtc.AudioSource(sample_rate, 1, queue_size_ms=100)
        self.heard_chunks: list[Pcm] = []
        self.agent_track = asyncio.get_running_loop().create_future()
        #: the agent's ``lk.agent.state`` changes as the caller saw them
        self.agent_states: list[str] = []
        #: why the server disconnected this caller (``rtc.DisconnectReason``), once it has
        self.disconnect_reason: int | None = None
        self._clips: asyncio.Queue[tuple[Pcm, asyncio.Future[None]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("participant_attributes_changed", self._on_attributes_changed)
        room.on("disconnected", self._on_disconnected)

    @classmethod
    async def join(
        cls,
        stack: LocalStack,
        identity: str,
        room: str,
        sample_rate: int = RATE,
        **claims: Any,
    ) -> Caller:
        client = rtc.Room()
        caller = cls(client, sample_rate)
        await client.connect(
            stack.url, token(stack, identity, room, room_config=dispatch(), **claims)
        )
        track = rtc.LocalAudioTrack.create_audio_track("microphone", caller.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await client.local_participant.publish_track(track, options)
        caller._tasks.append(asyncio.create_task(caller._speak()))
        return caller

    @classmethod
    @contextlib.asynccontextmanager
    async def joined(
        cls,
        stack: LocalStack,
        identity: str,
        room: str,
        sample_rate: int = RATE,
        **claims: Any,
    ) -> AsyncIterator[Caller]:
        """:meth:`join`, leaving the room (and stopping speaking and recording) at the end."""
        caller = await cls.join(stack, identity, room, sample_rate, **claims)
        try:
            yield caller
        finally:
            await caller.aclose()

    def _on_track_subscribed(
        self, track: rtc.Track, _: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        # a subscription may still land while leaving: recording it then would outlive us
        if is_agent(participant) and not self.agent_track.done() and not self._closed:
            self.agent_track.set_result(track)
            self._tasks.append(asyncio.create_task(self._record(track)))

    def _on_disconnected(self, reason: int) -> None:
        self.disconnect_reason = reason

    def _on_attributes_changed(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if is_agent(participant) and AGENT_STATE in changed:
            self.agent_states.append(changed[AGENT_STATE])

    async def replies_played(self, count: int, within_s: float = STEP_S) -> None:
        """Wait until the agent has spoken ``count`` replies in all and listens again."""

        def done() -> bool:
            states = self.agent_states
            return states.count("speaking") >= count and states[-1] == "listening"

        try:
            await eventually(done, within_s=within_s)
        except TimeoutError:
            raise AssertionError(
                f"{count} replies not played within {within_s} s; agent states seen: "
                f"{self.agent_states}"
            ) from None
        # the agent turns to listening once its source has sent the reply; the last of it is
        # still crossing the server and this caller's jitter buffer, so wait until it has landed
        await eventually(self._quiet, within_s=within_s)

    def _quiet(self) -> bool:
        """The agent's track has been silent for the last ``SETTLED_MS``."""
        tail = self.heard()[-RATE * SETTLED_MS // 1000 :]
        return len(tail) * 1000 >= RATE * SETTLED_MS and audible_ms(tail) == 0

    async def _speak(self) -> None:
        samples = self.sample_rate * FRAME_MS // 1000
        silence = np.zeros(samples, dtype=np.int16)
        while True:
            try:
                clip, done = self._clips.get_nowait()
            except asyncio.QueueEmpty:
                await self._capture(silence)
                continue
            padded = np.concatenate([clip, np.zeros(-len(clip) % samples, dtype=np.int16)])
            for start in range(0, len(padded), samples):
                await self._capture(padded[start : start + samples])
            done.set_result(None)

    async def _capture(self, pcm: Pcm) -> None:
        frame = rtc.AudioFrame(pcm.tobytes(), self.sample_rate, 1, len(pcm))
        await self.source.capture_frame(frame)

    async def say(self, clip: Pcm) -> None:
        """Speak ``clip`` now; returns once its last frame is handed to the SDK."""
        done = asyncio.get_running_loop().create_future()
        await self._clips.put((clip, done))
        await done

    async def _record(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        try:
            async for event in stream:
                self.heard_chunks.append(np.frombuffer(event.frame.data, dtype=np.int16))
        finally:
            await stream.aclose()

    def heard(self) -> Pcm:
        if not self.heard_chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self.heard_chunks)

    def heard_since(self, samples: int) -> Pcm:
        return self.heard()[samples:]

    async def hears_speech(self, ms: float, since: int = 0, within_s: float = STEP_S) -> None:
        """Wait until the agent's track carried ``ms`` of audible audio after sample ``since``."""
        await eventually(lambda: audible_ms(self.heard_since(since)) >= ms, within_s=within_s)

    async def aclose(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()
        await self.source.aclose()


def user_texts(session: SimSession) -> list[str]:
    return [
        part.get("text", "")
        for item in session.conversation.items
        if item.role == "user"
        for part in item.data.get("content", [])
    ]


def tool_outputs(session: SimSession, name: str) -> list[str]:
    """What the agent answered to the model's calls of tool ``name``."""
    items = session.conversation.items
    calls = {
        i.data["call_id"] for i in items if i.type == "function_call" and i.data["name"] == name
    }
    return [
        str(i.data["output"])
        for i in items
        if i.type == "function_call_output" and i.data["call_id"] in calls
    ]
