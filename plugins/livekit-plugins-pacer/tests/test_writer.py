"""SinkWriter: ordered delivery, and an interrupt that never lets an in-flight frame land late."""

from __future__ import annotations

import asyncio

import pytest
from livekit.plugins.pacer._writer import SinkWriter


async def test_operations_run_in_order_sync_or_async() -> None:
    writer = SinkWriter()
    log: list[str] = []

    async def slow(tag: str) -> None:
        await asyncio.sleep(0)
        log.append(tag)

    writer.submit(lambda: slow("a"))
    writer.submit(lambda: log.append("b"))
    writer.submit(lambda: slow("c"))
    await writer.drain()
    assert log == ["a", "b", "c"]
    await writer.aclose()


async def test_interrupt_drops_pending_and_waits_for_the_one_in_flight() -> None:
    writer = SinkWriter()
    log: list[str] = []
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()
        log.append("in-flight landed")

    writer.submit(blocked)
    writer.submit(lambda: log.append("pending"))
    await asyncio.sleep(0)
    writer.interrupt(lambda: log.append("clear"))
    assert log == []  # the in-flight op has not finished: the clear waits for it
    gate.set()
    await writer.drain()
    assert log == ["in-flight landed", "clear"]
    await writer.aclose()


@pytest.mark.expect_log(r"paced sink operation failed")
async def test_interrupt_when_idle_runs_at_once_and_failures_are_contained() -> None:
    writer = SinkWriter()
    log: list[str] = []

    def boom() -> None:
        raise RuntimeError("sink broke")

    writer.submit(boom)
    writer.submit(lambda: log.append("after"))
    await writer.drain()
    writer.interrupt(lambda: log.append("clear"))
    assert log == ["after", "clear"]
    assert writer.pending == 0
    await writer.aclose()
