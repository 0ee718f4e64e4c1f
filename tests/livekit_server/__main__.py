"""``python -m tests.livekit_server --port P [--host H] [--api-key K --api-secret S]``.

Runs the test server until SIGINT/SIGTERM. WebRTC needs a non-loopback address: on a host
with one, use ``--host 0.0.0.0`` or that address; on an isolated box, run inside
``python -m tests.livekit_server.netns`` and use its address (see README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from .server import DEFAULT_API_KEY, DEFAULT_API_SECRET, LiveKitTestServer, ServerConfig


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.livekit_server",
        description="LiveKit-compatible test server: signalling, audio SFU, data, RPC, "
        "agent dispatch and Twirp (RoomService, AgentDispatchService, SIP). Tests only.",
    )
    parser.add_argument("--port", type=int, default=7880, help="listen port (default 7880)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="API key (default devkey)")
    parser.add_argument(
        "--api-secret", default=DEFAULT_API_SECRET, help="API secret (default secret)"
    )
    parser.add_argument(
        "--departure-timeout",
        type=float,
        default=20.0,
        help="seconds a room outlives its last non-agent participant (default 20)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    return parser.parse_args(argv)


async def serve(config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with LiveKitTestServer(config) as server:
        print(f"LIVEKIT_URL={server.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        api_secret=args.api_secret,
        departure_timeout_s=args.departure_timeout,
    )
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
