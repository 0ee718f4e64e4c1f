"""Closing a call's agent session with a bound, so a reply that never ends cannot keep a call.

livekit-agents 1.8.9's ``AgentSession.aclose()`` interrupts the current reply and then drains
the activity, which waits for the interrupted speech — and a realtime reply's speech waits on
the model's generation stream. A generation the model never finishes (a stall the caller hung
up during, under load) keeps that wait, and with it the call, for ever: the soak found calls
never released this way (``bench/BENCHMARKS.md``, soak runs 2 and 3). Closing the realtime
session ends its current generation, which lets the drain finish; if even that does not help,
the close is abandoned (cancelled) rather than leaking the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def close_bounded(
    close: Callable[[], Awaitable[None]],
    unblock: Callable[[], Awaitable[None]] | None,
    *,
    timeout_s: float,
    call_id: str,
) -> bool:
    """Run ``close()``; if it has not finished within ``timeout_s``, run ``unblock()`` (close
    what it waits on) and wait as long again; then give up and cancel it.

    Returns whether ``close()`` finished (False: it was abandoned).
    """
    closing = asyncio.ensure_future(close())
    for attempt in range(2):
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(closing)
            return True
        except TimeoutError:
            pass
        if attempt == 0:
            logger.warning(
                "call %s: the session did not close within %g s (a reply that never "
                "finished); closing the model's session under it",
                call_id,
                timeout_s,
            )
            if unblock is not None:
                await unblock()
    logger.warning("call %s: the session still did not close; abandoning it", call_id)
    closing.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await closing
    return False
