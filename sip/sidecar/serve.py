"""``trunkline serve``: the Twilio sidecar (webhook + media streams), in the mode the
environment selects — the agent in-process (no ``LIVEKIT_URL``) or a bridge into LiveKit rooms.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

logger = logging.getLogger("trunkline.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    from agent.sim.options import add_arguments

    parser.description = (
        "Serve Twilio's voice webhook (POST /twilio/voice → <Connect><Stream> TwiML) and the "
        "media-stream WebSocket (/twilio/media). With no LIVEKIT_URL the agent answers inside "
        "this process; with no OPENAI_API_KEY a local OpenAI-Realtime simulator is the model. "
        "Point your Twilio number's voice webhook at PUBLIC_URL/twilio/voice."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument(
        "--env-file", default=".env.local", help="settings file read under the environment"
    )
    parser.add_argument(
        "--pacer",
        choices=["on", "off"],
        default="on",
        help="pace agent audio to Twilio (off forwards model bursts unpaced, for A/B "
        "measurement only; default on)",
    )
    parser.add_argument(
        "--lead-ms",
        type=int,
        default=60,
        help="how far ahead of real time the pacer may send into Twilio's buffer (default 60)",
    )
    parser.add_argument(
        "--prebuffer-ms",
        type=float,
        default=60,
        help="start hold of each reply before adaptation (default 60)",
    )
    parser.add_argument(
        "--turn-log",
        type=Path,
        help="append one JSON line per turn here (default: $TRUNKLINE_TURN_LOG, else none)",
    )
    add_arguments(parser, prefix="sim-")


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from agent.model import ModelFactory, ModelSettings
    from agent.sim.options import from_args
    from sip.sidecar.app import create_app
    from sip.sidecar.local_call import Pacing, local_backend_factory
    from trunkline.config import ConfigError, load_env, settings_from_env

    env = load_env(args.env_file)
    problems: list[str] = []
    model_settings = ModelSettings.from_env(env, problems, sim=from_args(args))
    try:
        settings = settings_from_env(env)
    except ConfigError as exc:
        problems = [*exc.problems, *problems]
    if problems or model_settings is None:
        print("trunkline serve: invalid configuration:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    if settings.livekit is not None:
        print(
            "trunkline serve: LIVEKIT_URL is set, which selects bridge mode, and this build "
            "only runs the agent in-process; unset LIVEKIT_URL to serve calls locally",
            file=sys.stderr,
        )
        return 2
    factory = ModelFactory(model_settings)
    pacing = Pacing(
        enabled=args.pacer == "on", lead_ms=args.lead_ms, prebuffer_ms=args.prebuffer_ms
    )
    turn_log = args.turn_log or (Path(settings.turn_log) if settings.turn_log else None)
    app = create_app(settings, local_backend_factory(factory, pacing, settings, turn_log=turn_log))

    async def model_lifecycle(_: web.Application) -> AsyncIterator[None]:
        await factory.start()
        yield
        await factory.aclose()

    app.cleanup_ctx.append(model_lifecycle)
    logger.info(
        "trunkline sidecar on http://%s:%d (mode %s, model %s, pacer %s)",
        args.host,
        args.port,
        settings.mode,
        settings.model_source,
        args.pacer,
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0
