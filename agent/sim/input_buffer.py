"""The input audio buffer, addressed in milliseconds of audio appended since the session began.

Server VAD reports ``audio_start_ms``/``audio_end_ms`` on that session-wide timeline, and the
committed user item holds exactly that span. Between turns only the recent past is kept (enough
for the prefix padding), so a long silent call does not grow memory; with turn detection off
everything is kept until the client commits or clears.
"""

from __future__ import annotations

SAMPLE_RATE = 24000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000


class InputBuffer:
    def __init__(self) -> None:
        self._data = bytearray()
        self._origin = 0  # session byte offset of the first byte held

    @property
    def end_ms(self) -> float:
        """Session time of the end of all audio appended so far."""
        return (self._origin + len(self._data)) / BYTES_PER_MS

    @property
    def held_ms(self) -> float:
        return len(self._data) / BYTES_PER_MS

    def append(self, pcm: bytes) -> None:
        self._data.extend(pcm)

    def take(self, start_ms: float, end_ms: float) -> bytes:
        """The audio between two session times; everything before ``end_ms`` is then dropped."""
        lo = self._offset(start_ms)
        hi = max(lo, self._offset(end_ms))
        span = bytes(self._data[lo:hi])
        self._drop(hi)
        return span

    def take_all(self) -> bytes:
        span = bytes(self._data)
        self._drop(len(self._data))
        return span

    def keep_last(self, ms: float) -> None:
        """Forget audio older than ``ms`` before the end."""
        self._drop(self._offset(self.end_ms - ms))

    def _offset(self, ms: float) -> int:
        offset = round(ms * BYTES_PER_MS) - self._origin
        offset -= offset % 2
        return min(max(offset, 0), len(self._data))

    def _drop(self, offset: int) -> None:
        del self._data[:offset]
        self._origin += offset
