"""Section ``paths`` of ``trunkline lab``: every caller path on the real stack, paced and not.

One seeded conversation is placed on every path — twilio-ws in local mode (the baseline),
twilio-ws through the bridge into a room, sip through livekit-sip, webrtc as an SDK participant
and as a real browser on the product's call page — call by call in rotating order, so whatever
else loads the machine loads every path alike. Each call is placed twice at the same moment,
once per pacer arm (the worker's or the local sidecar's pacer on, and off), on simulators that
replay the same draws: the A/B differs in the pacer and nothing else. The main phase runs at the
plan's model timing; the sweep's phases repeat fewer calls at other think times, to show at what
model latency transport starts to matter. :mod:`lab.paths_report` turns the runs into tables,
prose and figures.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import TaskID

from lab.browser import browser_missing
from lab.browser_runner import BROWSER, BrowserRunner
from lab.caller.audio import write_wav
from lab.live_plan import LivePlan
from lab.path_runner import CallRunner, PathRun, Unmeasured
from lab.paths_report import PathsResult, PhaseRuns, paths_result
from lab.rig import ArmEnds, LabRig, LiveKit
from lab.sections import LabContext, SectionResult
from lab.sip_runner import RATE as SIP_RATE
from lab.sip_runner import SipRunner
from lab.twilio_runner import TwilioRunner
from lab.webrtc_runner import RATE as WEBRTC_RATE
from lab.webrtc_runner import WebrtcRunner
from sip.sidecar.call_page import DEFAULT_PAGE_DIR

LOCAL = "twilio-ws (local)"
BRIDGE = "twilio-ws (bridge)"
#: every runner :func:`runners` makes, in the report's order
RUNNERS = (LOCAL, BRIDGE, "sip", "webrtc", BROWSER)


def reachable(sip: bool, browser: bool) -> list[str]:
    """The runners this run has: all but ``sip`` where there is no SIP gateway, and the
    browser where Chromium (or the built call page) is missing."""
    left_out = {"sip": not sip, BROWSER: not browser}
    return [name for name in RUNNERS if not left_out.get(name, False)]


def browser_problem() -> str | None:
    """Why this run has no browser caller (None: it has one)."""
    missing = browser_missing()
    if missing is None and not (DEFAULT_PAGE_DIR / "index.html").is_file():
        missing = f"the call page is not built ({DEFAULT_PAGE_DIR}): run `make web`"
    return missing and f"{missing}; the SDK participant alone measures webrtc"


@dataclass(frozen=True)
class Phase:
    #: the simulator's think-time spec (``trunkline sim --think-ms``)
    think: str
    plan: LivePlan
    #: the main phase is measured in full; the sweep's for latency only
    main: bool


def runners(
    ends: ArmEnds, plan: LivePlan, livekit: LiveKit, *, browser: bool = True
) -> list[CallRunner]:
    """One runner per path reachable this run (:func:`reachable`), for one arm, in the
    report's order."""
    found: list[CallRunner] = [
        TwilioRunner(ends.local_url, plan, ends.local_log, ends.model_recordings, name=LOCAL),
        TwilioRunner(
            ends.bridge_url,
            plan,
            ends.worker_log,
            ends.model_recordings,
            name=BRIDGE,
            receiver="opus-ulaw",
            dispatcher=ends.dispatcher,
        ),
    ]
    if ends.sip is not None:
        found.append(
            SipRunner(
                ends.sip,
                plan.caller_script(SIP_RATE),
                ends.worker_log,
                ends.model_recordings,
                arm_digit=ends.arm.digit,
                dispatcher=ends.dispatcher,
            )
        )
    found.append(
        WebrtcRunner(
            livekit.credentials,
            ends.agent_name,
            plan.caller_script(WEBRTC_RATE),
            ends.worker_log,
            ends.model_recordings,
            room_prefix=f"lab-webrtc-{ends.arm.name}",
            dispatcher=ends.dispatcher,
        )
    )
    if browser:
        found.append(
            BrowserRunner(
                ends.bridge_url,
                plan.caller_script(WEBRTC_RATE),
                ends.worker_log,
                ends.model_recordings,
                ends.run_dir / "browser",
                dispatcher=ends.dispatcher,
            )
        )
    return found


def save_heard(run: PathRun, directory: Path) -> None:
    """Every reply the caller heard, as a WAV file to listen to (<path>-<call>-turn<n>.wav)."""
    calls = list(dict.fromkeys(t.call_id for t in run.heard))
    for t in run.heard:
        name = f"{slug(run.name)}-call{calls.index(t.call_id) + 1}-turn{t.turn}.wav"
        write_wav(directory / name, t.audio, t.rate)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def rotation(names: Sequence[str], call: int) -> list[str]:
    """The paths' order for the ``call``-th round: each round starts one path later."""
    k = call % len(names)
    return [*names[k:], *names[:k]]


async def place_rounds(
    arms: Mapping[str, Sequence[CallRunner]],
    calls: int,
    on_call: Callable[[str], None],
) -> None:
    """Round by round, path by path, each call placed in every arm at the same moment."""
    names = [r.name for r in next(iter(arms.values()))]
    by_name = {arm: {r.name: r for r in rs} for arm, rs in arms.items()}
    for call in range(calls):
        for name in rotation(names, call):
            await asyncio.gather(*(by_name[arm][name].place(call) for arm in arms))
            on_call(name)
    await asyncio.gather(*(r.settle() for rs in arms.values() for r in rs))


@dataclass
class PathsSection:
    phases: Sequence[Phase]
    env: Mapping[str, str]
    #: the run's output folder (``ctx.out_dir``): the rig's files go under ``paths/``
    out: Path
    #: why no browser calls (None: Chromium places them), found at :meth:`start`
    no_browser: str | None = None
    key: str = "paths"
    title: str = "Every caller path on the real stack"
    timings: dict[str, float] = field(default_factory=dict)
    _rig: LabRig | None = None
    _started: float = 0.0

    def start(self) -> None:
        """Start LiveKit and launch every process now, so they boot while other sections run
        (the first phase waits for them). :meth:`run` stops them; so does :meth:`stop`."""
        if self._rig is None:
            self._started = time.monotonic()
            self.no_browser = browser_problem()
            self._rig = LabRig(self.out / "paths", self.env)
            self._rig.start()

    def stop(self) -> None:
        if self._rig is not None:
            self._rig.stop()
            self._rig = None

    def run(self, ctx: LabContext) -> SectionResult:
        task = ctx.progress.add_task("paths: starting the real stack", total=None)
        try:
            self.start()
            rig = self._rig
            assert rig is not None
            unmeasured = []
            if rig.sip_gateway is None:
                unmeasured.append(Unmeasured("sip", "sip", rig.sip_missing() or "no SIP gateway"))
            if self.no_browser is not None:
                unmeasured.append(Unmeasured(BROWSER, "webrtc", self.no_browser))
            phases = [
                self._phase(ctx, rig, phase, self.out / "paths" / f"phase-{n + 1}", task)
                for n, phase in enumerate(self.phases)
            ]
            where = rig.livekit.where
        finally:
            self.stop()
        ctx.progress.update(task, description="paths: measuring", total=1, completed=1)
        self.timings["calls_total_s"] = time.monotonic() - self._started
        result = PathsResult(where=where, phases=phases, unmeasured=unmeasured)
        section = paths_result(result, ctx.out_dir, self.key, self.title)
        section.data["timings_s"] = {k: round(v, 1) for k, v in self.timings.items()}
        return section

    def _phase(
        self, ctx: LabContext, rig: LabRig, phase: Phase, run_dir: Path, task: TaskID
    ) -> PhaseRuns:
        label = f"think {phase.think}"
        started = time.monotonic()
        if "ready_s" not in self.timings:
            self.timings["ready_s"] = started - self._started
        ctx.progress.update(task, description=f"paths: {label}: starting simulators")
        browser = self.no_browser is None
        n_paths = len(reachable(rig.sip_gateway is not None, browser))
        with rig.phase(phase.plan, run_dir, n_paths) as ends:
            arms = {e.arm.name: runners(e, phase.plan, rig.livekit, browser=browser) for e in ends}
            total = phase.plan.calls * n_paths
            ctx.progress.update(task, description=f"paths: {label}", total=total, completed=0)

            def placed(name: str) -> None:
                ctx.progress.update(task, description=f"paths: {label}: {name} done", advance=1)

            asyncio.run(place_rounds(arms, phase.plan.calls, placed))
        runs: dict[str, dict[str, PathRun]] = {
            arm: {r.name: r.collect() for r in rs} for arm, rs in arms.items()
        }
        for arm, by_name in runs.items():
            for run in by_name.values():
                save_heard(run, run_dir / arm / "heard")
        self.timings[f"phase {phase.think}"] = time.monotonic() - started
        return PhaseRuns(
            think=phase.think,
            plan=phase.plan,
            main=phase.main,
            runs=runs,
            sessions_per_draw=n_paths,
        )
