"""``trunkline serve``: the Twilio sidecar (webhook + media streams), in the mode the
environment selects — the agent in-process (no ``LIVEKIT_URL``) or a bridge into LiveKit rooms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from agent.model import ModelSettings
    from sip.twilio.pacing import Pacing
    from sip.twilio.rest import TwilioCalls
    from trunkline.config import LiveKitCredentials, Settings

logger = logging.getLogger("trunkline.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    from agent.model import MODEL_CHOICES
    from agent.sim.options import add_arguments
    from sip.sidecar.call_page import DEFAULT_PER_MINUTE

    parser.description = (
        "Serve Twilio's voice webhook (POST /twilio/voice → <Connect><Stream> TwiML) and the "
        "media-stream WebSocket (/twilio/media). Point your Twilio number's voice webhook at "
        "PUBLIC_URL/twilio/voice. "
        "Local mode (no LIVEKIT_URL): the agent answers inside this process; with no "
        "OPENAI_API_KEY a local OpenAI-Realtime simulator is the model. "
        "Bridge mode (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET set): each call becomes "
        "a LiveKit room twilio-<CallSid>, the agent registered as AGENT_NAME (default "
        "trunkline; run it with `python agent.py start`) is dispatched into it, and this "
        "process joins as the caller: caller audio in, paced agent audio out, DTMF as SIP "
        "DTMF, hang-up both ways. If LiveKit does not answer at the webhook the caller hears "
        "an apology (TwiML <Say>) and the call ends; if the room fails later, a spoken apology "
        "plays before the hang-up. "
        "Bridge mode also serves a browser call page at /call/ (built by `make web`): it asks "
        "POST /call/token for a one-off join token (new room web-<random>, agent dispatched) "
        "and calls the agent from the microphone. "
        "SIGTERM or SIGINT drains: new calls go to TRUNKLINE_FALLBACK_URL (or hear an "
        "apology), /readyz turns unready, live calls run on for up to TRUNKLINE_DRAIN_TIMEOUT "
        "seconds and then hear a goodbye; a second signal hangs up every call at once."
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
        "--playout",
        choices=["hold", "stretch"],
        default="stretch",
        help="local mode: how model stalls are kept from becoming gaps — start early and play "
        "a thin queue slower (adaptive playout; the default), or hold each reply until the "
        "learned stall is covered",
    )
    parser.add_argument(
        "--prebuffer-ms",
        type=float,
        default=60,
        help="start hold of each reply before adaptation (default 60)",
    )
    parser.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        help="local mode: the model that answers — openai (needs OPENAI_API_KEY) or sim (the "
        "offline simulator, even where real callers can reach this sidecar). Default: "
        "$TRUNKLINE_MODEL, else openai when OPENAI_API_KEY is set, else sim — refused when "
        "PUBLIC_URL, Twilio credentials or trusted proxies make this sidecar reachable by "
        "real callers",
    )
    parser.add_argument(
        "--turn-log",
        type=Path,
        help="local mode: append one JSON line per turn here (default: $TRUNKLINE_TURN_LOG, "
        "else none); in bridge mode the worker writes the turns",
    )
    parser.add_argument(
        "--agent-timeout",
        type=float,
        default=15.0,
        help="bridge mode: seconds to wait for the dispatched agent to join a call's room "
        "before apologising and hanging up (default 15)",
    )
    parser.add_argument(
        "--call-page",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the browser call page (/call/) and its token endpoint (/call/token); "
        "on by default in bridge mode, unavailable in local mode (it needs LiveKit)",
    )
    parser.add_argument(
        "--call-page-limit",
        type=int,
        default=DEFAULT_PER_MINUTE,
        metavar="N",
        help="call-page tokens per minute per client address, the burst allowed too "
        f"(default {DEFAULT_PER_MINUTE}); behind a reverse proxy every visitor shares the "
        "proxy's address",
    )
    add_arguments(parser, prefix="sim-")


def run(args: argparse.Namespace) -> int:
    from livekit.plugins.pacer import Stretch

    from agent.model import ModelSettings, choose_model
    from agent.sim.options import from_args
    from sip.sidecar import announce
    from sip.sidecar.drain import GOODBYE_TEXT
    from sip.sidecar.lifecycle import serve
    from sip.sidecar.webform import REQUEST_LOG
    from sip.twilio.pacing import Pacing
    from sip.twilio.rest import TwilioCalls
    from trunkline.config import ConfigError, load_env, settings_from_env, text

    env = load_env(args.env_file)
    problems: list[str] = []
    model_settings = ModelSettings.from_env(env, problems, sim=from_args(args))
    settings: Settings | None = None
    try:
        settings = settings_from_env(env)
    except ConfigError as exc:
        problems = [*exc.problems, *problems]
    requested = args.model or text(env, "TRUNKLINE_MODEL")
    if settings is not None and settings.livekit is not None:
        if args.pacer == "off":
            problems.append("--pacer off is for local mode only; bridge mode always paces")
        if args.model is not None:
            problems.append("--model is for local mode only; in bridge mode the worker answers")
    elif settings is not None and model_settings is not None:
        because = settings.reachable_by_callers
        model_settings = choose_model(
            model_settings,
            requested,
            real_callers=None if because is None else f"{because} makes this sidecar public",
            problems=problems,
        )
        if model_settings is not None and model_settings.api_key is None:
            settings = replace(settings, openai_api_key=None)  # /healthz names the real model
    if settings is not None and settings.livekit is None and args.call_page:
        problems.append(
            "--call-page needs bridge mode (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET): "
            "the page's callers join LiveKit rooms"
        )
    if args.call_page_limit <= 0:
        problems.append(f"--call-page-limit {args.call_page_limit} must be a positive number")
    if problems or model_settings is None or settings is None:
        print("trunkline serve: invalid configuration:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    pacing = Pacing(
        enabled=args.pacer == "on",
        lead_ms=args.lead_ms,
        prebuffer_ms=args.prebuffer_ms,
        stretch=Stretch() if args.playout == "stretch" else None,
    )
    rest = (
        TwilioCalls.create(settings.twilio.account_sid, settings.twilio.auth_token)
        if settings.twilio is not None
        else None
    )
    goodbye = announce.render(GOODBYE_TEXT)
    if settings.livekit is not None:
        app = _bridge_app(args, settings, settings.livekit, pacing, rest, goodbye)
        model = f"the worker's ({settings.agent_name!r})"
    else:
        app = _local_app(args, settings, model_settings, pacing, rest, goodbye)
        model = settings.model_source
    logger.info(
        "trunkline sidecar on http://%s:%d (mode %s, model %s, pacer %s)",
        args.host,
        args.port,
        settings.mode,
        model,
        args.pacer,
    )
    asyncio.run(serve(app, args.host, args.port, request_log=REQUEST_LOG))
    return 0


def _local_app(
    args: argparse.Namespace,
    settings: Settings,
    model_settings: ModelSettings,
    pacing: Pacing,
    rest: TwilioCalls | None,
    goodbye: bytes,
) -> web.Application:
    from agent.model import ModelFactory
    from sip.sidecar.app import create_app
    from sip.sidecar.local_call import local_backend_factory
    from sip.sidecar.ops import CachedCheck, http_probe

    factory = ModelFactory(model_settings)
    turn_log = args.turn_log or (Path(settings.turn_log) if settings.turn_log else None)
    backends = local_backend_factory(factory, pacing, settings, turn_log=turn_log)
    checks = [CachedCheck("model", http_probe(factory.health_check))]
    app = create_app(settings, backends, rest=rest, checks=checks, goodbye=goodbye)

    async def model_lifecycle(_: web.Application) -> AsyncIterator[None]:
        await factory.start()
        yield
        await factory.aclose()

    app.cleanup_ctx.append(model_lifecycle)
    return app


def _bridge_app(
    args: argparse.Namespace,
    settings: Settings,
    livekit: LiveKitCredentials,
    pacing: Pacing,
    rest: TwilioCalls | None,
    goodbye: bytes,
) -> web.Application:
    from sip.bridge import apology
    from sip.bridge.bridge import Bridge
    from sip.bridge.call import BridgeOptions
    from sip.sidecar.app import create_app
    from sip.sidecar.call_page import PAGE_PATH, add_call_page

    if args.turn_log or settings.turn_log:
        logger.warning(
            "bridge mode: per-turn lines are written by the worker, not the sidecar; "
            "the turn log setting is ignored here"
        )
    options = BridgeOptions(pacing=pacing, agent_join_timeout_s=args.agent_timeout)
    bridge = Bridge(livekit, settings.agent_name, apology_audio=apology.render(), options=options)
    app = create_app(
        settings,
        bridge.new_call,
        rest=rest,
        admission=bridge.admit,
        checks=[bridge.readiness_check()],
        goodbye=goodbye,
    )
    if args.call_page is not False:
        add_call_page(app, livekit, settings.agent_name, per_minute=args.call_page_limit)
        logger.info(
            "call page on http://%s:%d%s (tokens: %d per minute per address)",
            args.host,
            args.port,
            PAGE_PATH,
            args.call_page_limit,
        )

    async def bridge_lifecycle(_: web.Application) -> AsyncIterator[None]:
        async with bridge.rooms:
            yield

    app.cleanup_ctx.append(bridge_lifecycle)
    return app
