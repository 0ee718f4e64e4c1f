"""The per-connection send queue: order, serialisation at queue time, and its byte bound."""

from __future__ import annotations

import asyncio
import json

from agent.sim.outbox import Outbox


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def send_str(self, data: str) -> None:
        await self.gate.wait()
        self.sent.append(data)


async def test_sends_in_order_as_serialised_when_queued() -> None:
    box, sink = Outbox(max_bytes=10_000), Sink()
    state = {"type": "a", "n": 1}
    box.put(state)
    state["n"] = 2  # a later change must not rewrite what was already queued
    box.put({"type": "b"})
    writer = asyncio.create_task(box.drain_to(sink))
    await asyncio.sleep(0)
    box.close()
    await writer
    assert [json.loads(s) for s in sink.sent] == [{"type": "a", "n": 1}, {"type": "b"}]
    box.put({"type": "late"})
    assert len(sink.sent) == 2


async def test_a_reader_that_stalls_overflows_the_bound() -> None:
    box, sink = Outbox(max_bytes=1000), Sink()
    sink.gate.clear()  # the client stopped reading
    writer = asyncio.create_task(box.drain_to(sink))
    for n in range(100):
        box.put({"type": "response.output_audio.delta", "delta": "x" * 50, "n": n})
        if box.overflow.is_set():
            break
    assert box.overflow.is_set() and n < 30
    sink.gate.set()
    await asyncio.wait_for(writer, 1)
    assert len(sink.sent) <= 1  # the backlog was dropped, not delivered late
