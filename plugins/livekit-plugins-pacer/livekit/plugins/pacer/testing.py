"""Virtual time for tests of code that uses the pacer.

Every timing decision the pacer makes reads a clock. Give a stream or an output a ticker on a
:class:`VirtualClock` and time moves only when the test says so, so deadlines, holds, lateness
and underruns are exact and need no sleeps::

    clock = VirtualClock()
    out = pacer.PacedAudioOutput(leaf, ticker=Ticker(clock))
    await out.capture_frame(frame)
    await run_for(clock, 0.3)  # frames reach ``leaf`` on their deadlines
"""

from __future__ import annotations

import asyncio

from ._clock import Clock, VirtualClock
from ._ticker import Ticker

__all__ = ["Clock", "Ticker", "VirtualClock", "run_for"]


async def run_for(clock: VirtualClock, seconds: float, *, step: float = 0.01) -> None:
    """Move ``clock`` on by ``seconds`` in ``step``s, letting the loop's tasks run after each
    (the output hands frames over on a task of its own)."""
    for _ in range(round(seconds / step)):
        clock.advance(step)
        for _ in range(3):
            await asyncio.sleep(0)
