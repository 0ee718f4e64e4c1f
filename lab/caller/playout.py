"""What a Twilio caller hears: the playback buffer Twilio keeps for a media stream.

Twilio plays the media we send in order, 20 ms at a time on its own clock, and echoes a
``mark`` once the audio queued before it has played — or at once, for every pending mark, on
``clear``. The caller simulator needs exactly that model to acknowledge marks honestly (when its
playout reaches them, not when they arrive) and to record what the caller actually heard,
including the silence when the buffer runs dry mid-reply (an audible gap).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from sip.g711 import ULAW_SILENCE
from sip.twilio.protocol import FRAME_BYTES


@dataclass
class _Chunk:
    data: bytes
    pos: int = 0


@dataclass
class TickResult:
    audio: bytes
    """Exactly one frame (160 bytes of μ-law) heard during this tick."""
    played_bytes: int
    """How much of it was agent audio (the rest is silence: buffer empty)."""
    marks: list[str] = field(default_factory=list)
    """Marks whose preceding audio has now played, in order."""


SILENT_FRAME: Final = bytes([ULAW_SILENCE]) * FRAME_BYTES


class Playout:
    """Twilio's per-stream playback queue: media and marks in order, drained 20 ms a tick."""

    def __init__(self) -> None:
        self._queue: deque[_Chunk | str] = deque()
        self._finishing: list[str] = []
        """Marks whose audio is playing during the current tick: echoed when it has played."""
        self.buffered_bytes = 0

    def add_media(self, ulaw: bytes) -> None:
        if ulaw:
            self._queue.append(_Chunk(ulaw))
            self.buffered_bytes += len(ulaw)

    def add_mark(self, name: str) -> None:
        self._queue.append(name)

    def clear(self) -> list[str]:
        """Drop all queued audio; returns every pending mark (Twilio echoes them at once)."""
        marks = self._finishing + [item for item in self._queue if isinstance(item, str)]
        self._finishing = []
        self._queue.clear()
        self.buffered_bytes = 0
        return marks

    def tick(self) -> TickResult:
        """Play one 20 ms frame.

        A mark reached after some of this frame's audio is echoed at the next tick, once that
        audio has actually played out; one reached before any is echoed now.
        """
        out = bytearray()
        marks, self._finishing = self._finishing, []
        while self._queue:
            head = self._queue[0]
            if isinstance(head, str):
                (self._finishing if out else marks).append(head)
                self._queue.popleft()
                continue
            if len(out) == FRAME_BYTES:
                break
            take = min(FRAME_BYTES - len(out), len(head.data) - head.pos)
            out += head.data[head.pos : head.pos + take]
            head.pos += take
            self.buffered_bytes -= take
            if head.pos == len(head.data):
                self._queue.popleft()
        played = len(out)
        out += SILENT_FRAME[played:]
        return TickResult(bytes(out), played, marks)
