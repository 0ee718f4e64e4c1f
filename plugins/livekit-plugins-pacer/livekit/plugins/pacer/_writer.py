"""Ordered delivery into sinks whose calls are coroutines.

The ticker services every stream in one callback and must never wait on any of them, but
``rtc.AudioSource.capture_frame`` and ``io.AudioOutput.capture_frame`` are coroutines. A writer
owns one task per sink that runs queued operations in order; the ticker only appends. An
interrupt drops what is still queued and runs its action once no operation is half-done, so a
frame that was in flight cannot land behind a clear.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from livekit.agents.utils import aio

from .log import logger

Op = Callable[[], Awaitable[None] | None]


class SinkWriter:
    def __init__(self, *, name: str = "pacer-sink-writer") -> None:
        self._ops: deque[Op] = deque()
        self._wake = asyncio.Event()
        self._busy = False
        self._after_current: Op | None = None
        self._task = asyncio.create_task(self._run(), name=name)

    @property
    def pending(self) -> int:
        return len(self._ops)

    def submit(self, op: Op) -> None:
        self._ops.append(op)
        self._wake.set()

    def interrupt(self, action: Callable[[], None]) -> None:
        """Drop queued operations; run ``action`` now, or right after the one in flight."""
        self._ops.clear()
        if self._busy:
            self._after_current = action
        else:
            action()

    async def drain(self) -> None:
        """Until every operation submitted so far has run."""
        done = asyncio.get_running_loop().create_future()
        self.submit(lambda: done.set_result(None) if not done.done() else None)
        await done

    async def aclose(self) -> None:
        self._ops.clear()
        await aio.cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            while not self._ops:
                self._wake.clear()
                await self._wake.wait()
            op = self._ops.popleft()
            self._busy = True
            try:
                result = op()
                if result is not None:
                    await result
            except Exception:
                logger.exception("paced sink operation failed")
            finally:
                self._busy = False
            action, self._after_current = self._after_current, None
            if action is not None:
                try:
                    action()
                except Exception:
                    logger.exception("paced sink interrupt failed")
