"""The twilio-ws path: the simulated Twilio caller against ``trunkline serve``, local or bridged.

The same machinery as ``make demo`` (:mod:`lab.demo`): the real sidecar and the
simulated Twilio caller speaking the real Media Streams protocol over loopback. In **local
mode** the agent runs inside the sidecar (its pacer on or off: ``trunkline serve --pacer``);
in **bridge mode** the sidecar puts each call in a LiveKit room where the arm's worker
answers. Either way :class:`TwilioRunner` places the calls one at a time and joins the
caller's halves of each turn to the agent's turn log.

The caller's halves say when its speech ended and when the reply's first media message
arrived (``caller_first_audio``: transport ends there, before the caller's playout buffer,
on every path alike); the local sidecar's own stamp from Twilio's mark echo — when the
playout started — is the playout stage instead (:attr:`lab.heard.HeardTurn.playout_s`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import aiohttp

from lab.call_windows import CallWindow, agent_records, agent_settled, model_heard
from lab.caller.call import FRAME_S
from lab.caller.results import CallResult
from lab.caller.runner import place_call
from lab.chains import Receiver
from lab.dispatch import Dispatcher, Watch, named
from lab.heard import HeardTurn, trim_silence
from lab.live_plan import LivePlan
from lab.path_runner import PathRun
from sip.bridge.contract import room_name
from sip.twilio.protocol import FRAME_BYTES, SAMPLE_RATE
from trunkline.paths import CallPath
from trunkline.turnlog import TurnRecord, merge_turns

#: How long a freshly started sidecar may take to answer /healthz (imports, model start-up).
READY_TIMEOUT_S = 120.0


def caller_halves(result: CallResult, path: CallPath) -> list[TurnRecord]:
    """What the caller knows of each turn: its speech end, the reply's first media message."""
    records = []
    for t in result.turns:
        latency = None if t.latency_ms is None else round(t.latency_ms / 1000, 4)
        records.append(
            TurnRecord(
                call_id=result.call_sid,
                path=path,
                turn=t.turn,
                caller_speech_end=t.speech_end,
                caller_first_audio=t.first_audio_received if latency is not None else None,
                latency_s=latency,
                source="caller",
            )
        )
    return records


@dataclass
class TwilioRunner:
    """An arm's twilio-ws calls against one sidecar (:class:`lab.path_runner.CallRunner`)."""

    url: str
    plan: LivePlan
    #: the local sidecar's turn log, or in bridge mode the arm's worker's
    agent_log: Path
    #: the simulator's recordings of what it heard
    model_recordings: Path
    name: str = "twilio-ws"
    path: CallPath = "twilio-ws"
    #: ``ulaw`` in local mode; ``opus-ulaw`` through the bridge (the room's Opus, then μ-law)
    receiver: Receiver = "ulaw"
    #: through the bridge: re-dispatches the arm's agent when LiveKit found no worker free
    dispatcher: Dispatcher | None = None
    placed: list[tuple[CallWindow, CallResult, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def place(self, call: int) -> None:
        options = self.plan.caller_options(self.url, call)
        started = time.time()
        watch = Watch(self.dispatcher, named(room_name(options.call_sid)))
        try:
            async with watch:
                result = await place_call(options)
        except (OSError, aiohttp.ClientError, RuntimeError) as exc:
            self.problems.append(f"{self.name} call {call + 1} failed: {exc!r}")
            return
        window = CallWindow(result.call_sid, started, time.time())
        self.placed.append((window, result, watch.redispatched))

    async def settle(self) -> None:
        if self.placed:
            window, result, _ = self.placed[-1]
            await agent_settled(self.agent_log, window, self.path, len(result.turns))

    def collect(self) -> PathRun:
        windows = [w for w, _, _ in self.placed]
        agent, problems = agent_records(self.agent_log, windows, self.path)
        # transport ends where the caller received the first audio (see the module's note)
        agent = [replace(r, caller_first_audio=None) for r in agent]
        upstream, connections = model_heard(self.model_recordings, windows)
        caller = [r for _, result, _ in self.placed for r in caller_halves(result, self.path)]
        merged = merge_turns([*agent, *caller])
        return PathRun(
            name=self.name,
            path=self.path,
            receiver=self.receiver,
            records=merged.records,
            heard=[turn for _, result, _ in self.placed for turn in heard_turns(result)],
            upstream=upstream,
            calls=[
                {
                    **call_summary(result),
                    "model_connections": connections.get(w.call_id, []),
                    "redispatched": again,
                }
                for w, result, again in self.placed
            ],
            problems=[*self.problems, *problems, *(str(p) for p in merged.problems)],
        )


def heard_turns(result: CallResult) -> list[HeardTurn]:
    """Each reply the caller heard: its audio cut from the call's recording, its arrivals.

    The caller stamps a reply's first and last heard audio at the tick that played it; the
    recording holds one 20 ms frame per tick from the call's start. The cut is widened by a
    frame on each side and trimmed to the reply's sound, so tick jitter cannot clip it.
    """
    turns = []
    for t in ([result.greeting] if result.greeting else []) + result.turns:
        if t.first_audio_heard is None or t.reply_end is None:
            continue
        first = max(math.floor((t.first_audio_heard - result.started_at) / FRAME_S) - 1, 0)
        last = math.ceil((t.reply_end - result.started_at) / FRAME_S) + 1
        since = result.started_at if t.speech_end is None else t.speech_end
        turns.append(
            HeardTurn(
                call_id=result.call_sid,
                turn=t.turn,
                rate=SAMPLE_RATE,
                audio=trim_silence(result.heard[first * FRAME_BYTES : last * FRAME_BYTES]),
                receiver_gaps=t.gaps,
                arrivals=tuple(
                    (at, size / SAMPLE_RATE)  # one μ-law byte per sample
                    for at, size in result.media
                    if since <= at <= t.reply_end
                ),
                barge_in_clear_ms=t.barge_in.clear_after_ms if t.barge_in else None,
                barge_in_cutoff_ms=t.barge_in.cutoff_ms if t.barge_in else None,
                playout_s=(
                    None
                    if t.first_audio_received is None
                    else t.first_audio_heard - t.first_audio_received
                ),
            )
        )
    return turns


def call_summary(result: CallResult) -> dict[str, object]:
    return {
        "call_id": result.call_sid,
        "duration_s": round(result.duration_s, 2),
        "hung_up_by": result.hung_up_by,
        "marks_acked": result.marks_acked,
        "clears": result.clears,
        "cadence": asdict(result.cadence),
    }
