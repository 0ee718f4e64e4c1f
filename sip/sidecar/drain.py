"""Leaving without dropping a call: drain on the first SIGTERM/SIGINT, stop on the second.

Every deploy and every autoscaler step stops a sidecar that is carrying conversations. The first
signal starts a drain: the webhook stops answering with a stream (the call goes to the fallback:
another sidecar's webhook by ``<Redirect>``, or an apology and a hang-up), readiness turns
unready so the load balancer sends nothing new, and the calls in progress — including streams
whose TwiML already went out and that Twilio has yet to open — run to their natural end. If
some are still going when the drain timeout (an hour by default, as LiveKit's worker drains)
runs out, each hears a short goodbye and is hung up. A second signal means "now": every call
is hung up at once.

The bridge's rooms drain with their calls: a call's room lives as long as its Twilio stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any, Final, Protocol

from trunkline import metrics

logger = logging.getLogger(__name__)

GOODBYE_TEXT: Final = (
    "We are sorry, but we have to end this call now. Please call us again. Goodbye."
)
DRAIN_FALLBACK_TEXT: Final = (
    "Sorry, we cannot take your call right now. Please call again in a minute."
)
#: How often a drain looks whether the last call has ended (and the last stream arrived).
POLL_S: Final = 0.1
#: After hanging up, how long to wait for calls to release their agents before stopping.
RELEASE_GRACE_S: Final = 10.0


class DrainableCall(Protocol):
    """What a drain needs of a call (``MediaStreamCall`` is one)."""

    async def end_politely(self, goodbye: bytes, reason: str) -> None: ...

    async def stop_now(self, reason: str) -> None: ...


class Draining:
    """Whether this process still takes calls; flipped by the signals (or by a test)."""

    def __init__(self) -> None:
        self._begun = asyncio.Event()
        self._forced = asyncio.Event()
        metrics.DRAINING.set(0)

    @property
    def draining(self) -> bool:
        return self._begun.is_set()

    @property
    def forced(self) -> bool:
        return self._forced.is_set()

    def signal(self, name: str = "a signal") -> None:
        """The first stop request drains; any later one ends every call at once."""
        if not self.draining:
            logger.info("%s: draining (a second one ends every call at once)", name)
            self.begin()
        else:
            logger.warning("%s again: ending every call now", name)
            self.force()

    def begin(self) -> None:
        self._begun.set()
        metrics.DRAINING.set(1)

    def force(self) -> None:
        self.begin()
        self._forced.set()

    async def wait_begun(self) -> None:
        await self._begun.wait()

    async def wait_forced(self) -> None:
        await self._forced.wait()


async def drain_calls(
    draining: Draining,
    calls: Callable[[], Collection[DrainableCall]],
    expected: Callable[[], int],
    *,
    timeout_s: float,
    goodbye: bytes,
    poll_s: float = POLL_S,
) -> None:
    """Once ``draining`` begins, wait for ``calls()`` to end and the ``expected()`` streams to
    arrive and end, for up to ``timeout_s``; then end the rest with ``goodbye``. Returns when
    no call is left, or at once when the drain is forced."""
    await draining.wait_begun()
    logger.info(
        "draining: %d calls in progress, %d streams expected; waiting up to %g s for them",
        len(calls()),
        expected(),
        timeout_s,
    )
    try:
        async with asyncio.timeout(timeout_s):
            while (calls() or expected()) and not draining.forced:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(draining.wait_forced(), poll_s)
    except TimeoutError:
        left = list(calls())
        logger.warning("drain timeout (%g s): ending %d calls with a goodbye", timeout_s, len(left))
        await _until_forced(
            draining,
            [c.end_politely(goodbye, "the service is restarting") for c in left],
        )
    if draining.forced:
        left = list(calls())
        if left:
            logger.warning("ending %d calls now", len(left))
        await asyncio.gather(*(c.stop_now("the service is stopping") for c in left))
    # each call leaves ``calls()`` once it has released its agent, model and stream
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RELEASE_GRACE_S):
            while calls():  # noqa: ASYNC110 - calls end on their own tasks
                await asyncio.sleep(poll_s)
    logger.info("drained: %s", "calls still closing" if calls() else "no calls left")


async def _until_forced(draining: Draining, endings: list[Coroutine[Any, Any, None]]) -> None:
    """Run the polite endings side by side; a forced drain cuts them short."""
    everyone = asyncio.gather(*endings, return_exceptions=True)
    forced = asyncio.ensure_future(draining.wait_forced())
    waiting: list[asyncio.Future[Any]] = [everyone, forced]
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        forced.cancel()
        everyone.cancel()
        await asyncio.gather(everyone, forced, return_exceptions=True)
