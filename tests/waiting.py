"""Waiting for a condition in async tests: the one polling helper of the suite.

Bounded, so a regression fails instead of hanging. On virtual time (``tests.virtual_time``)
both the bound and the polling interval are the loop's clock, so a wait costs no real time
and a condition that holds at an instant is seen at that instant (to within ``every_s``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    condition: Callable[[], Awaitable[T]], within_s: float = 5.0, every_s: float = 0.01
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T], within_s: float = 5.0, every_s: float = 0.01
) -> T: ...


async def eventually(
    condition: Callable[[], T | Awaitable[T]], within_s: float = 5.0, every_s: float = 0.01
) -> T:
    """Poll ``condition`` (a function, or a coroutine function for another process's state)
    every ``every_s`` until it returns something truthy, and return that; raises TimeoutError
    after ``within_s`` seconds."""
    async with asyncio.timeout(within_s):
        while True:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every_s)
