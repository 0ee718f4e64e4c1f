"""Closing a call's session is bounded: a close stuck on an unfinished reply cannot keep the call.

The stuck close is modelled as livekit-agents shows it: ``AgentSession.aclose()`` waiting on the
reply's generation, which only closing the realtime session ends.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from sip.sidecar.session_close import close_bounded

TIMEOUT_S = 0.05


class StuckSession:
    """``aclose()`` waits for the generation to end; the realtime session's close ends it."""

    def __init__(self, *, realtime_helps: bool = True) -> None:
        self.generation_over = asyncio.Event()
        self.realtime_helps = realtime_helps
        self.closed = False
        self.cancelled = False
        self.realtime_closed = False

    async def aclose(self) -> None:
        try:
            await self.generation_over.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.closed = True

    async def close_realtime(self) -> None:
        self.realtime_closed = True
        if self.realtime_helps:
            self.generation_over.set()


async def test_a_close_that_finishes_never_touches_the_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = StuckSession()
    session.generation_over.set()
    assert await close_bounded(
        session.aclose, session.close_realtime, timeout_s=TIMEOUT_S, call_id="CA1"
    )
    assert session.closed and not session.realtime_closed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_close_stuck_on_a_reply_is_unblocked_by_closing_the_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = StuckSession()
    assert await close_bounded(
        session.aclose, session.close_realtime, timeout_s=TIMEOUT_S, call_id="CA2"
    )
    assert session.realtime_closed and session.closed and not session.cancelled
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "call CA2: the session did not close within 0.05 s" in warning.getMessage()


async def test_a_close_that_stays_stuck_is_abandoned_leaving_no_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = StuckSession(realtime_helps=False)
    before = asyncio.all_tasks()
    assert not await close_bounded(
        session.aclose, session.close_realtime, timeout_s=TIMEOUT_S, call_id="CA3"
    )
    assert session.realtime_closed and session.cancelled and not session.closed
    assert asyncio.all_tasks() == before
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert messages[-1] == "call CA3: the session still did not close; abandoning it"


async def test_without_a_model_session_the_stuck_close_is_abandoned_after_twice_the_bound() -> None:
    session = StuckSession()
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert not await close_bounded(session.aclose, None, timeout_s=TIMEOUT_S, call_id="CA4")
    assert loop.time() - started >= 2 * TIMEOUT_S
    assert session.cancelled
