"""Tell a downstream listener when the agent's audio is cut off (barge-in).

In a room, an interruption clears only what the agent itself still holds; audio already sent
sits in the subscriber's buffers. The Twilio bridge keeps a pacer queue and Twilio keeps its own
playback buffer, so without a signal a caller who barges in keeps hearing the old reply for as
long as those hold. The session calls ``clear_buffer()`` on its audio output exactly when it
interrupts a reply, so this decorator turns that call into ``on_clear()`` and passes everything
else through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from livekit import rtc
from livekit.agents.voice import io


class ClearSignalOutput(io.AudioOutput):
    def __init__(self, next_in_chain: io.AudioOutput, on_clear: Callable[[], None]) -> None:
        super().__init__(
            label="ClearSignal",
            capabilities=io.AudioOutputCapabilities(pause=True),
            next_in_chain=next_in_chain,
        )
        inner = self.next_in_chain  # the base class may have wrapped a bare leaf in a proxy
        assert inner is not None
        self._inner = inner
        self._on_clear = on_clear

    @property
    def sample_rate(self) -> int | None:
        return self._inner.sample_rate

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        await self._inner.capture_frame(frame)

    def flush(self) -> None:
        super().flush()
        self._inner.flush()

    def clear_buffer(self) -> None:
        self._inner.clear_buffer()
        self._on_clear()
