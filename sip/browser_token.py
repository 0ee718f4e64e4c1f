"""``trunkline token``: a join token for the webrtc path that dispatches the agent on join.

The worker registers with an agent name, and LiveKit never dispatches a named agent on its own:
someone must ask for it. Putting the dispatch in the token's room configuration makes the ask
part of joining, so any LiveKit client (the Agents playground, a phone app) brings the agent
along with nothing else to call. The token goes to stdout alone, so ``$(trunkline token ...)``
works; the playground hint goes to stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta

from trunkline.config import (
    DEFAULT_AGENT_NAME,
    DEFAULT_ENV_FILE,
    LiveKitCredentials,
    agent_name,
    livekit_credentials,
    load_env,
)

PLAYGROUND_URL = "https://agents-playground.livekit.io"
DEFAULT_TTL = "6h"
_TTL = re.compile(r"^([0-9]+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(raw: str) -> timedelta:
    """``90`` / ``90s`` / ``30m`` / ``6h`` / ``1d`` as a positive duration."""
    match = _TTL.match(raw.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{raw!r} is not a positive duration like 90s, 30m, 6h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def websocket_url(url: str) -> str:
    """The ws(s):// form browsers connect to; LIVEKIT_URL may be given as http(s)://."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http) :]
    return url


def join_token(
    credentials: LiveKitCredentials,
    *,
    room: str,
    identity: str,
    agent: str,
    ttl: timedelta,
    name: str | None = None,
    publish_sources: list[str] | None = None,
) -> str:
    """A JWT that may join ``room`` as ``identity`` and dispatches ``agent`` into the room.

    ``publish_sources`` (e.g. ``["microphone"]``) limits what the holder may publish; None
    leaves LiveKit's default (any source).
    """
    from livekit import api

    grants = api.VideoGrants(room_join=True, room=room, can_publish_sources=publish_sources)
    token = (
        api.AccessToken(credentials.api_key, credentials.api_secret)
        .with_identity(identity)
        .with_grants(grants)
        .with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=agent)]))
        .with_ttl(ttl)
    )
    if name:
        token = token.with_name(name)
    return token.to_jwt()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print a LiveKit join token for a browser caller; joining the room with it dispatches "
        "the agent. Reads LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and AGENT_NAME from "
        "the environment or the env file."
    )
    parser.add_argument("--room", required=True, help="room to join (created on first join)")
    parser.add_argument("--identity", required=True, help="the caller's participant identity")
    parser.add_argument("--name", help="the caller's display name")
    parser.add_argument(
        "--ttl",
        default=DEFAULT_TTL,
        help=f"how long the token can be used to join, e.g. 30m, 6h, 1d (default: {DEFAULT_TTL})",
    )
    parser.add_argument(
        "--agent-name",
        help=f"agent to dispatch; must match the worker's (env AGENT_NAME; default: "
        f"{DEFAULT_AGENT_NAME})",
    )
    parser.add_argument(
        "--env-file",
        default=DEFAULT_ENV_FILE,
        help=f"env file read under the environment (default: {DEFAULT_ENV_FILE})",
    )


def run(args: argparse.Namespace) -> int:
    env = load_env(args.env_file)
    problems: list[str] = []
    credentials = livekit_credentials(env, problems)
    ttl: timedelta | None = None
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError as exc:
        problems.append(f"--ttl {exc}")
    for option, value in (("--room", args.room), ("--identity", args.identity)):
        if not value.strip():
            problems.append(f"{option} must not be empty")
    if problems or credentials is None or ttl is None:
        print("trunkline token: no token made, because:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    token = join_token(
        credentials,
        room=args.room,
        identity=args.identity,
        name=args.name,
        agent=agent_name(env, args.agent_name),
        ttl=ttl,
    )
    print(token)
    print(
        f"Open {PLAYGROUND_URL}, choose the manual connection, and paste "
        f"{websocket_url(credentials.url)} as the URL and this token.",
        file=sys.stderr,
    )
    return 0
