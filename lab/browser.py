"""Debian's Chromium, headless, driven by Playwright: a caller with no person present.

Playwright's own browser builds cannot be downloaded here (nor in CI), so the distribution's
``chromium`` is driven through ``executable_path``. The flags make it a caller nobody watches:
microphone permission granted, a fake capture device (a WAV file when one is given), audio
allowed to play without a click. It inherits the caller's network namespace, so it reaches
whatever the process that launched it reaches.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

#: where Debian's package puts it
CHROMIUM: Final = "/usr/bin/chromium"


def find_chromium() -> str | None:
    """Chromium's path, or None when it is not installed."""
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def browser_missing() -> str | None:
    """Why no browser can be driven here (None: it can)."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (the dev extra: make venv)"
    if find_chromium() is None:
        return "Debian's chromium is not installed (apt-get install chromium)"
    return None


def chromium_args(microphone_wav: Path | None = None) -> list[str]:
    """The flags of a caller with no person present; ``microphone_wav`` (played once per
    capture, then silence) is the microphone, or the fake device's own tone without one."""
    wav = (
        [f"--use-file-for-fake-audio-capture={microphone_wav.resolve()}%noloop"]
        if microphone_wav is not None
        else []
    )
    return [
        "--no-sandbox",  # root in CI; the namespace is the isolation here
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        *wav,
        "--autoplay-policy=no-user-gesture-required",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


@asynccontextmanager
async def chromium(
    profile_dir: Path, microphone_wav: Path | None = None
) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile (``--user-data-dir``); see
    :func:`chromium_args`. Raises ``RuntimeError`` when there is none (:func:`browser_missing`)."""
    from playwright.async_api import async_playwright

    executable = find_chromium()
    if executable is None:
        raise RuntimeError(browser_missing())
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=executable,
            headless=True,
            args=chromium_args(microphone_wav),
            # Playwright mutes audio by default; a caller's page plays it as usual
            ignore_default_args=["--mute-audio"],
        )
        try:
            yield context
        finally:
            await context.close()
