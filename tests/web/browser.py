"""Debian's Chromium driven by Playwright, with a fake microphone, recording what a page plays.

The browser is the lab's (:mod:`lab.browser`): Debian's ``chromium`` through
``executable_path``, a WAV file as the microphone (``%noloop``: played once per capture, then
silence; each new capture starts it again), microphone permission granted, audio allowed to
play without a click. Chromium runs inside the test process's network namespace (children
inherit it), where LiveKit listens on the veth address and the sidecar on 127.0.0.1 — a secure
context, so the page may ask for the microphone over plain http.
"""

from __future__ import annotations

import base64
import io
import json
import os
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from playwright.async_api import BrowserContext, Page

from lab.browser import browser_missing
from lab.browser import chromium as lab_chromium
from lab.browser_runner import INBOUND_AUDIO
from lab.pcm import to_int16

HERE = Path(__file__).parent
RATE = 48000
Pcm = npt.NDArray[np.int16]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_chromium() -> None:
    """A missing browser fails the test in CI and skips it elsewhere."""
    reason = browser_missing()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI=true but the browser test cannot run: {reason}")
    pytest.skip(reason)


@asynccontextmanager
async def chromium(microphone_wav: Path, profile_dir: Path) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile and the WAV file as its microphone."""
    require_chromium()
    async with lab_chromium(profile_dir, microphone_wav) as context:
        yield context


async def install_recorder(page: Page) -> None:
    """Record the page's played audio and microphone from its first script on (recorder.js)."""
    await page.add_init_script(path=str(INBOUND_AUDIO))
    await page.add_init_script(path=str(HERE / "recorder.js"))


@dataclass(frozen=True)
class Recording:
    """Two channels on one sample clock, and page events on the recorder's context clock."""

    played: Pcm
    """The agent's audio as the page played it."""
    mic: Pcm
    """The microphone as the page captured it."""
    start_s: float
    """Context time of sample 0 (when the recorder started; to within a few ms)."""
    events: list[tuple[float, str, str]]
    """(context time, kind, value): the agent state the page showed, its status line, …"""

    def save(self, path: Path) -> None:
        """A stereo WAV (left: played, right: microphone) and the events beside it, as JSON."""
        with wave.open(str(path), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(np.stack([self.played, self.mic], axis=1).tobytes())
        events = [{"t": t - self.start_s, "kind": k, "value": v} for t, k, v in self.events]
        path.with_suffix(".json").write_text(json.dumps(events, indent=1))


_READ = """([from, size]) => {
  const bytes = window.__recorder.bytes.subarray(from, from + size);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}"""
_PART = 4 * 1024 * 1024


async def read_recording(page: Page) -> Recording:
    """Stop the recorder and decode what it recorded (WebM with float PCM) to PCM16."""
    size: int = await page.evaluate("window.__recorder.stop()")
    data = b"".join(
        [
            base64.b64decode(await page.evaluate(_READ, [first, _PART]))
            for first in range(0, size, _PART)
        ]
    )
    with av.open(io.BytesIO(data), mode="r", format="webm") as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        # planar float64 whatever the recorder's sample layout: one row per channel
        planar = av.AudioResampler(format="dblp", layout="stereo", rate=rate)
        frames = [
            out.to_ndarray() for frame in container.decode(stream) for out in planar.resample(frame)
        ]
    if not frames:
        raise AssertionError("the page's recorder captured nothing")
    if rate != RATE:
        raise AssertionError(f"recorded at {rate} Hz, not {RATE}")
    samples = np.concatenate(frames, axis=1)
    pcm = to_int16(samples[0]), to_int16(samples[1])
    started: float = await page.evaluate("window.__recorder.startedAt")
    events = [
        (float(t), str(kind), str(value))
        for t, kind, value in await page.evaluate("window.__recorder.events")
    ]
    return Recording(pcm[0], pcm[1], started, events)
