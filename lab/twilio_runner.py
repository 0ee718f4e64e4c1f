"""The twilio-ws path in local mode: ``trunkline serve`` in a child process, simulated callers.

The same machinery as ``make demo`` (:mod:`trunkline.demo`): the real sidecar on the embedded
default (agent in-process, the local Realtime simulator as the model) and the simulated Twilio
caller speaking the real Media Streams protocol over loopback. The sidecar is told the lab's
script, seed and pacer setting; the calls are placed one after another, so one call's load
never colours another's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from lab.heard import HeardTurn, trim_silence
from lab.live_plan import LivePlan
from lab.path_runner import PathRun
from lab.paths import CallPath
from lab.turnlog import TurnLogWriter, merge_turns, read_turnlogs
from sip.caller.analysis import turn_records
from sip.caller.call import FRAME_S
from sip.caller.results import CallResult
from sip.caller.runner import place_call
from sip.twilio.protocol import FRAME_BYTES, SAMPLE_RATE
from trunkline.child import embedded_sidecar, free_port, wait_ready

#: How long a freshly started sidecar may take to answer /healthz (imports, model start-up).
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class TwilioWsRunner:
    name: str = "twilio-ws"
    #: ``trunkline serve --pacer on|off``.
    pacer: bool = True
    path: CallPath = "twilio-ws"

    def run(self, plan: LivePlan, workdir: Path, on_call: Callable[[int], None]) -> PathRun:
        with self.serving(plan, workdir) as url:
            results, problems = asyncio.run(self.place_calls(url, plan, on_call))
        return self.collect(results, problems, workdir)

    @contextlib.contextmanager
    def serving(self, plan: LivePlan, workdir: Path) -> Iterator[str]:
        """A sidecar for this runner, its script, log and turn log under ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        script = workdir / "script.json"
        script.write_text(plan.script_json(), encoding="utf-8")
        (workdir / "turns.jsonl").unlink(missing_ok=True)
        extra = [*plan.serve_args(script), "--pacer", "on" if self.pacer else "off"]
        with embedded_sidecar(
            free_port(), workdir / "turns.jsonl", workdir / "sidecar.log", extra
        ) as url:
            yield url

    async def place_calls(
        self, url: str, plan: LivePlan, on_call: Callable[[int], None]
    ) -> tuple[list[CallResult], list[str]]:
        """Every call of the plan in turn; a call that fails is a problem, not the end."""
        try:
            await wait_ready(url, READY_TIMEOUT_S)
        except TimeoutError as exc:
            return [], [f"{exc}; see its sidecar.log"]
        results: list[CallResult] = []
        problems: list[str] = []
        for i in range(plan.calls):
            try:
                results.append(await place_call(plan.caller_options(url, i)))
            except (OSError, aiohttp.ClientError, RuntimeError) as exc:
                problems.append(f"{self.name} call {i + 1} failed: {exc}")
            on_call(i)
        return results, problems

    def collect(self, results: list[CallResult], problems: list[str], workdir: Path) -> PathRun:
        """Add the callers' halves to the sidecar's turn log, merge, and cut out the replies."""
        turn_log = workdir / "turns.jsonl"
        with TurnLogWriter(turn_log) as writer:
            for result in results:
                for record in turn_records(result, self.path):
                    writer.write(record)
        log = read_turnlogs([turn_log])
        merged = merge_turns(log.records)
        return PathRun(
            name=self.name,
            path=self.path,
            records=merged.records,
            heard=[turn for result in results for turn in heard_turns(result)],
            calls=[call_summary(result) for result in results],
            problems=[*problems, *(str(p) for p in [*log.problems, *merged.problems])],
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
