"""Run the simulator inside another program: on its event loop, or on a thread of its own.

``run_simulator`` serves on the caller's event loop (the sidecar, tests)::

    async with run_simulator(SimOptions(), host="127.0.0.1", port=0) as sim:
        model = RealtimeModel(base_url=sim.base_url, api_key="sim", ...)

``SimulatorThread`` serves from a background thread with its own loop, for a synchronous parent
(an agent worker's main process before ``cli.run_app``: its job processes inherit the URL and
share one simulator). Either way the process starts the simulator once and stops it at shutdown.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from . import vad
from .options import SimOptions
from .server import PATH, Simulator, create_app


@dataclass(frozen=True)
class RunningSimulator:
    host: str
    port: int
    simulator: Simulator

    @property
    def base_url(self) -> str:
        """What ``RealtimeModel(base_url=...)`` takes: ``http://HOST:PORT/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + PATH.removeprefix("/v1")


@asynccontextmanager
async def run_simulator(
    options: SimOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve the simulator on this loop until the block exits (``port=0``: any free port)."""
    await asyncio.to_thread(vad.preload)
    simulator = Simulator(options or SimOptions())
    runner = web.AppRunner(create_app(simulator), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield RunningSimulator(host=host, port=bound_port, simulator=simulator)
    finally:
        await runner.cleanup()


class SimulatorThread:
    """The simulator on a daemon thread with its own event loop; ``start()`` returns its URL."""

    def __init__(
        self, options: SimOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._options = options
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._running: RunningSimulator | None = None
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="trunkline-sim", daemon=True)

    def start(self) -> str:
        """Start serving; returns the base URL once the socket listens (raises if it can't)."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("the simulator thread failed to start") from self._error
        assert self._running is not None
        return self._running.base_url

    def stop(self) -> None:
        if self._thread.ident is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported to start(); the thread must not die silently
            self._error = e
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with run_simulator(self._options, host=self._host, port=self._port) as running:
            self._running = running
            self._ready.set()
            await self._stop.wait()
