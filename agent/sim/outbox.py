"""A connection's outgoing events: a bounded queue drained by one writer.

Sessions emit events synchronously and must never wait on the network: one slow or vanished
client would otherwise stall its own session's timing, and anything sharing a task with it.
Each event is serialised when it is queued (so later changes to the session's state cannot leak
into an event already "sent"), and the queue is bounded in bytes: a client that stops reading
overflows it and is disconnected, rather than growing the server's memory without limit.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Protocol

from .protocol import Event


class TextSink(Protocol):
    async def send_str(self, data: str) -> None: ...


class Outbox:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._wakeup = asyncio.Event()
        #: set when the bound is exceeded: the connection must be dropped
        self.overflow = asyncio.Event()
        self._closed = False

    def put(self, event: Event) -> None:
        if self._closed:
            return
        text = json.dumps(event, separators=(",", ":"))
        self._queue.append(text)
        self._bytes += len(text)
        if self._bytes > self._max_bytes:
            self.overflow.set()
            self.close()
        self._wakeup.set()

    def close(self) -> None:
        """Stop accepting events; the writer returns once what is queued is gone or dropped."""
        self._closed = True
        if self.overflow.is_set():
            self._queue.clear()
            self._bytes = 0
        self._wakeup.set()

    async def drain_to(self, sink: TextSink) -> None:
        """Send queued events in order until closed (or the sink fails)."""
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            text = self._queue.popleft()
            self._bytes -= len(text)
            await sink.send_str(text)
