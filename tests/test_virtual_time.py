"""The virtual-time loop that session-level tests run on: exact timers, instant computing,
a clock that waits for threads and for sockets, and real clocks everywhere else."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.virtual_time import START, VirtualTimeLoop, virtual_loop

pytestmark = pytest.mark.virtual_time


async def test_timers_fire_exactly_on_time_however_long_the_work_takes() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop) and loop.time() == START
    fired: list[float] = []
    for delay in (0.02, 0.04, 0.06):
        loop.call_later(delay, lambda: fired.append(loop.time()))
    sum(range(200_000))  # real work: the clock does not move
    assert loop.time() == START
    await asyncio.sleep(0.1)
    assert fired == pytest.approx([START + 0.02, START + 0.04, START + 0.06], abs=1e-12)
    assert loop.time() == pytest.approx(START + 0.1, abs=1e-12)


async def test_an_hour_passes_in_no_time() -> None:
    real = time.perf_counter_ns()
    await asyncio.sleep(3600)
    assert time.monotonic() == pytest.approx(START + 3600)
    assert (time.perf_counter_ns() - real) / 1e9 < 5  # the _ns clocks stay real


async def test_the_clock_stands_still_while_a_thread_works() -> None:
    before = time.monotonic()
    ticks: list[float] = []
    asyncio.get_running_loop().call_later(0.01, lambda: ticks.append(time.monotonic()))
    await asyncio.to_thread(time.sleep, 0.05)  # real time, in a thread
    assert time.monotonic() == before  # the timer due meanwhile has not fired early ...
    await asyncio.sleep(0.02)
    assert ticks == [pytest.approx(before + 0.01)]  # ... it fires at its virtual time


async def test_a_socket_message_in_flight_is_not_overtaken_by_a_jump() -> None:
    received: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.put_nowait((await reader.read(5), time.monotonic()))
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    asyncio.get_running_loop().call_later(10, lambda: None)  # a far timer to jump to
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = time.monotonic()
    writer.write(b"hello")
    data, at = await received.get()
    assert data == b"hello" and at == sent
    writer.close()
    server.close()
    await server.wait_closed()


async def test_clocks_read_virtual_time_only_in_the_loops_thread() -> None:
    epoch = time.time()
    await asyncio.sleep(5)
    assert time.time() == pytest.approx(epoch + 5, abs=1e-6)
    assert time.perf_counter() == time.monotonic() == asyncio.get_running_loop().time()
    elsewhere: list[float] = []
    thread = threading.Thread(target=lambda: elsewhere.append(time.monotonic()))
    thread.start()
    thread.join()
    assert abs(elsewhere[0] - time.monotonic()) > 1  # the machine's monotonic clock, not ours


def test_closing_the_last_loop_restores_the_real_clocks() -> None:
    with virtual_loop() as loop:
        assert time.monotonic.__module__ != "time"
        assert loop.run_until_complete(asyncio.sleep(2, result="done")) == "done"
        assert loop.time() == START + 2
    assert time.monotonic.__module__ == "time"
