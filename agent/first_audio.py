"""The agent's audio with no pacer: passed through untouched, its first frame per reply stamped.

``TRUNKLINE_PACER=off`` exists for one purpose: to measure what the pacer buys on a path, with
everything else equal (``trunkline lab``'s A/B). Without the pacer nothing reports when a
reply's first model audio reached the output, so this decorator does, and the turn's
waterfall keeps its model stage; the audio goes to RoomIO's track as the session hands it over
(in bursts, as the model delivers it), and the pacing stage is zero by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from livekit import rtc
from livekit.agents.voice import io


class FirstAudioStamp(io.AudioOutput):
    def __init__(
        self, next_in_chain: io.AudioOutput, on_first_audio: Callable[[float], None]
    ) -> None:
        super().__init__(
            label="FirstAudioStamp",
            capabilities=io.AudioOutputCapabilities(pause=True),
            next_in_chain=next_in_chain,
        )
        inner = self.next_in_chain  # the base class may have wrapped a bare leaf in a proxy
        assert inner is not None
        self._inner = inner
        self._on_first_audio = on_first_audio

    @property
    def sample_rate(self) -> int | None:
        return self._inner.sample_rate

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        before = self.captured_playout_segments
        await super().capture_frame(frame)
        if self.captured_playout_segments != before:
            self._on_first_audio(time.time())  # epoch seconds, as every turn-log stamp
        await self._inner.capture_frame(frame)

    def flush(self) -> None:
        super().flush()
        self._inner.flush()

    def clear_buffer(self) -> None:
        self._inner.clear_buffer()
