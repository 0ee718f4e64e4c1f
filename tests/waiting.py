"""Waiting for a condition in async tests, bounded so a regression fails instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], object], within_s: float = 5.0) -> None:
    """Poll ``condition`` until truthy; raises TimeoutError after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 - conditions here have no event to await
            await asyncio.sleep(0.01)
