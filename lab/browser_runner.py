"""The ``webrtc`` path as a person's browser takes it: headless Chromium on the product's page.

Each call opens the call page the arm's bridge sidecar serves (``/call/``, as ``trunkline
serve`` does in bridge mode) in a fresh headless Chromium (:mod:`lab.browser`) and presses
Call: the page fetches its token from the sidecar — a new room, the arm's agent dispatched —
joins with ``livekit-client`` and publishes its microphone, all as for a person. An init script
(``browser_caller.js``) stands in for the person: the microphone is a track the lab speaks each
caller clip into, and the ear is a tap on what the page *plays*, the agent's track after
Chromium's own jitter buffer and Opus decoder — which is what the published experiment said a
burst of AI audio upsets. The page's inbound-rtp statistics give that buffer's delay and its
concealment, as libwebrtc's do for the SDK participant (:mod:`lab.webrtc_runner`), whose
bookkeeping this runner shares.

Arrival times: each block of played audio carries the audio clock's time when it was rendered
and the wall clock when the page saw it; the page can see a block late (its main thread is
busy) but never early, so the smallest difference seen so far maps the audio clock onto the
wall clock, and a block's arrival is when it was rendered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from lab.browser import chromium
from lab.call_windows import CallWindow
from lab.conversation import CallerScript, Conversation, converse
from lab.dispatch import Dispatcher, RoomFinder, Watch
from lab.path_runner import PathRun
from lab.pcm import Int16Array
from lab.webrtc_runner import AGENT_TRACK_S, COUNTERS, RATE, Arrivals, Placed, WebrtcCalls
from trunkline.paths import CallPath
from trunkline.resample import resample

if TYPE_CHECKING:
    from playwright.async_api import Page

#: ``window.__inboundAudio()``: the page's inbound-rtp audio statistics
INBOUND_AUDIO: Final = Path(__file__).with_name("inbound_audio.js")
#: the init scripts that stand in for the person (see ``browser_caller.js``)
SCRIPTS: Final = (INBOUND_AUDIO, Path(__file__).with_name("browser_caller.js"))
#: the page loads and offers Call (a cold Chromium on a loaded machine)
PAGE_READY_S: Final = 60.0
#: how often the played audio is fetched from the page
PUMP_S: Final = 0.04
BROWSER: Final = "webrtc (browser)"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


class BrowserLine(Arrivals):
    """A :class:`lab.conversation.Line` through the call page in a browser."""

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        #: the page plays the agent's track
        self.agent_track = asyncio.Event()
        self._ended = False
        #: wall clock minus audio clock, the smallest seen (see the module's docstring)
        self._offset = float("inf")
        #: add to an epoch reading to get monotonic seconds
        self._to_monotonic = time.monotonic() - time.time()
        self._pump: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._pump = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                await self.fetch()
                await asyncio.sleep(PUMP_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the page went away: the call is over for the caller
            self.failure = exc
            self._ended = True

    async def fetch(self) -> None:
        got: dict[str, Any] = await self.page.evaluate("window.__lab.take()")
        if got["agentTrack"]:
            self.agent_track.set()
        self._ended = bool(got["ended"])
        pcm = np.frombuffer(base64.b64decode(got["pcm"]), dtype=np.int16)
        at = 0
        for context, wall, size in zip(got["context"], got["wall"], got["sizes"], strict=True):
            self._offset = min(self._offset, wall / 1000 - context)
            arrived = context + self._offset + self._to_monotonic
            self.frames.append((arrived, pcm[at : at + size].copy()))
            at += size

    @property
    def ended(self) -> bool:
        return self._ended

    async def say(self, pcm: Int16Array, rate: int) -> float:
        x = resample(pcm, rate, RATE) if rate != RATE else pcm
        ended_ms: float = await self.page.evaluate(
            "b64 => window.__lab.say(b64)", base64.b64encode(x.astype("<i2").tobytes()).decode()
        )
        return ended_ms / 1000 + self._to_monotonic

    async def playout_counters(self) -> dict[str, float]:
        try:
            inbound: list[dict[str, Any]] = await self.page.evaluate("window.__inboundAudio()")
        except Exception:
            return {}
        if len(inbound) != 1:
            return {}
        return {name: float(inbound[0].get(_camel(name), 0)) for name in COUNTERS}

    async def aclose(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)


def _once_known(room: asyncio.Future[str]) -> RoomFinder:
    """The room the page's token named, once the page has it."""

    async def find(_lk: object) -> str | None:
        return room.result() if room.done() else None

    return find


@dataclass
class BrowserRunner:
    """The arm's browser calls, one at a time (:class:`lab.path_runner.CallRunner`)."""

    #: the arm's bridge sidecar (it serves the call page at ``/call/``)
    sidecar_url: str
    script: CallerScript
    agent_log: Path
    model_recordings: Path
    #: a failed call's screenshot goes here
    work_dir: Path
    name: str = BROWSER
    path: CallPath = "webrtc"
    dispatcher: Dispatcher | None = None

    def __post_init__(self) -> None:
        self.calls = WebrtcCalls(self.name, self.agent_log, self.model_recordings, self.path)

    async def place(self, call: int) -> None:
        here = self.work_dir / f"call-{call + 1}"
        here.mkdir(parents=True, exist_ok=True)
        profile = tempfile.TemporaryDirectory(prefix="trunkline-lab-chromium-")
        started = time.time()
        room: str | None = None
        conversation: Conversation | None = None
        line: BrowserLine | None = None
        redispatched = 0
        try:
            async with chromium(Path(profile.name)) as browser:
                page = await browser.new_page()
                page.on("pageerror", lambda e: self.calls.problems.append(f"page error: {e}"))
                for script in SCRIPTS:
                    await page.add_init_script(path=str(script))
                await page.goto(f"{self.sidecar_url}/call/")
                await page.wait_for_selector("#call:enabled", timeout=PAGE_READY_S * 1000)
                await page.evaluate("window.__lab.ready")
                started = time.time()
                # watched from before the click: the worker may log the room's job request
                # before the page has even read its token
                named_room: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                watch = Watch(self.dispatcher, _once_known(named_room))
                try:
                    async with watch:
                        async with page.expect_response("**/call/token") as response:
                            await page.click("#call")
                        room = str((await (await response.value).json())["room"])
                        named_room.set_result(room)
                        line = BrowserLine(page)
                        line.start()
                        await asyncio.wait_for(line.agent_track.wait(), AGENT_TRACK_S)
                        conversation = await converse(line, self.script)
                    if not line.ended:
                        await page.click("#hangup")
                        await page.wait_for_selector("#call:enabled")
                except BaseException:
                    with contextlib.suppress(Exception):
                        await page.screenshot(path=str(here / "failure.png"))
                    raise
                finally:
                    redispatched = watch.redispatched
                    if line is not None:
                        await line.aclose()
        except Exception as exc:  # Playwright's own errors too: the call failed, the run goes on
            self.calls.problems.append(f"{self.name} call {call + 1} failed: {exc!r}")
        finally:
            profile.cleanup()
        self.calls.ended(call, conversation)
        window = CallWindow(room or f"browser-call-{call + 1}", started, time.time())
        cut = line.cut if line is not None else None
        self.calls.placed.append(Placed(window, conversation, cut, redispatched))

    async def settle(self) -> None:
        await self.calls.settle()

    def collect(self) -> PathRun:
        return self.calls.collect()
