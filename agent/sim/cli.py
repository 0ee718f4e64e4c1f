"""``trunkline sim``: serve the local OpenAI-Realtime-compatible simulator on a port.

Point any Realtime client at it with ``base_url=http://HOST:PORT/v1`` (and any API key), e.g.
``RealtimeModel(base_url=..., api_key="sim")`` or ``TRUNKLINE_SIM_URL`` for trunkline's own
agent. It runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import logging

from .options import add_arguments, from_args

logger = logging.getLogger("agent.sim")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on, 0 for any (default: 8765)"
    )
    add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from .embedded import run_simulator

    options = from_args(args)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with run_simulator(options, host=args.host, port=args.port) as sim:
            logger.info(
                "OpenAI-Realtime simulator listening on %s (base_url %s; think %s, %s chunks, "
                "seed %d)",
                sim.ws_url,
                sim.base_url,
                options.think,
                options.chunking,
                options.seed,
            )
            await stop.wait()
        logger.info("simulator stopped")

    asyncio.run(serve())
    return 0
