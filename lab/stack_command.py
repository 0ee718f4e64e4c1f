"""``trunkline stack``: LiveKit, its SIP gateway, the worker and the sidecar, on this machine.

Everything a user needs to try all three caller paths with no cloud account: Redis,
livekit-server and (where installed) livekit-sip from ``make livekit``, the agent worker
(``python agent.py dev``) and ``trunkline serve`` in bridge mode. It prints where each path
is reached, writes the LiveKit settings to ``<run dir>/stack.env``, and stops everything on
Ctrl-C. LiveKit listens on its documented ports on the machine's own address (WebRTC and SIP do
not work over loopback), so a softphone, a browser or ``trunkline call`` on this machine or the
LAN can reach it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from types import FrameType

from lab.services import (
    SIDECAR_START_S,
    WORKER_START_S,
    product_env,
    sidecar_service,
    worker_service,
)
from sip.browser_token import join_token
from trunkline.config import DEFAULT_AGENT_NAME, LiveKitCredentials
from trunkline.stack import LocalStack, StackOptions, StackUnavailable
from trunkline.stack.ports import STANDARD, free_ports
from trunkline.stack.service import Service, ServiceFailed
from trunkline.stack.stack import host_address

logger = logging.getLogger("trunkline.stack")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the real LiveKit stack on this machine — Redis, livekit-server, livekit-sip "
        "(when installed), the agent worker and the Twilio sidecar in bridge mode — and print "
        "how to reach each caller path. Ctrl-C stops everything. The servers come from "
        "`make livekit`; the model is OPENAI_API_KEY's, else the local simulator."
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to serve on (default: this machine's address on its default route; "
        "not loopback, which WebRTC and SIP media cannot use)",
    )
    parser.add_argument(
        "--port", type=int, default=STANDARD.http, help="livekit-server HTTP/WebSocket port"
    )
    parser.add_argument("--sip-port", type=int, default=STANDARD.sip, help="livekit-sip port")
    parser.add_argument(
        "--sidecar-port", type=int, default=8080, help="trunkline serve port (Twilio webhook)"
    )
    parser.add_argument("--no-worker", action="store_true", help="do not start the agent worker")
    parser.add_argument("--no-sidecar", action="store_true", help="do not start the Twilio sidecar")
    parser.add_argument(
        "--agent-name",
        default=os.environ.get("AGENT_NAME") or DEFAULT_AGENT_NAME,
        help="name the worker registers under and every path dispatches (env AGENT_NAME)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path("out/stack"),
        help="configs, logs and stack.env go here (default: out/stack)",
    )


@dataclass(frozen=True)
class Endpoints:
    livekit_url: str
    api_key: str
    api_secret: str
    sip_address: str | None
    sip_missing: str | None
    sidecar_url: str | None
    token: str
    room: str


@contextlib.contextmanager
def running(args: argparse.Namespace) -> Iterator[tuple[Endpoints, list[Service]]]:
    """The whole stack up; everything stopped again (in reverse) when the block exits."""
    host = args.host or host_address()
    run: Path = args.run_dir.resolve()
    ports = replace(
        free_ports(host),
        http=args.port,
        rtc_tcp=args.port + 1,
        rtc_udp=args.port + 2,
        sip=args.sip_port,
        sip_rtp=STANDARD.sip_rtp,
    )
    stack = LocalStack(StackOptions(host=host, run_dir=run, ports=ports))
    services: list[Service] = []
    stack.start()
    try:
        env = product_env(stack.env, args.agent_name)
        if not args.no_worker:
            services.append(worker_service(env, run))
            services[-1].start(WORKER_START_S)
        sidecar_url = None
        if not args.no_sidecar:
            services.append(sidecar_service(host, args.sidecar_port, env, run, bind="0.0.0.0"))
            services[-1].start(SIDECAR_START_S)
            sidecar_url = f"http://{host}:{args.sidecar_port}"
        room = f"stack-{int(time.time())}"
        credentials = LiveKitCredentials(stack.url, stack.api_key, stack.api_secret)
        token = join_token(
            credentials, room=room, identity="me", agent=args.agent_name, ttl=timedelta(hours=6)
        )
        (run / "stack.env").write_text("".join(f"{k}={v}\n" for k, v in stack.env.items()))
        endpoints = Endpoints(
            livekit_url=stack.url,
            api_key=stack.api_key,
            api_secret=stack.api_secret,
            sip_address=stack.sip_address,
            sip_missing=stack.sip_missing,
            sidecar_url=sidecar_url,
            token=token,
            room=room,
        )
        yield endpoints, [*stack.services(), *services]
    finally:
        for service in reversed(services):
            service.stop()
        stack.stop()


def banner(e: Endpoints, run: Path) -> str:
    lines = [
        "trunkline stack is up. Ctrl-C stops it.",
        "",
        f"  LIVEKIT_URL={e.livekit_url}",
        f"  LIVEKIT_API_KEY={e.api_key}",
        f"  LIVEKIT_API_SECRET={e.api_secret}",
        f"  (also in {run / 'stack.env'}: `set -a; . {run / 'stack.env'}; set +a`)",
        "",
        f"webrtc     join room {e.room} with this token (it dispatches the agent):",
        f"  {e.token}",
        "           or mint your own: trunkline token --room <room> --identity <you>",
    ]
    if e.sidecar_url is not None:
        port = e.sidecar_url.rsplit(":", 1)[1]
        lines += [
            f"           or open the call page: http://localhost:{port}/call/ (a browser on this",
            "           machine; from elsewhere it needs https for the microphone)",
            f"twilio-ws  webhook {e.sidecar_url}/twilio/voice (bridge mode); simulate a call:",
            f"  trunkline call --url {e.sidecar_url} --turns 2",
        ]
    if e.sip_address is not None:
        lines += [
            f"sip        livekit-sip at sip:{e.sip_address} (UDP and TCP); create a trunk and",
            "           dispatch rule first: trunkline provision --number <+E164> with",
            "           LIVEKIT_SIP_URI=sip:" + e.sip_address,
        ]
    else:
        lines += [f"sip        no SIP gateway in this stack: {e.sip_missing}"]
    lines += ["", f"logs: {run}/*.log"]
    return "\n".join(lines)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with running(args) as (endpoints, services):
            print(banner(endpoints, args.run_dir.resolve()), flush=True)
            while True:
                for service in services:
                    if not service.running:
                        print(
                            f"trunkline stack: {service.name} exited; stopping everything. "
                            f"The end of its log:\n{service.log_tail()}",
                            file=sys.stderr,
                        )
                        return 1
                time.sleep(0.5)
    except (KeyboardInterrupt, _Stop):
        print("trunkline stack: stopped", file=sys.stderr)
        return 0
    except (StackUnavailable, ServiceFailed) as exc:
        print(f"trunkline stack: {exc}", file=sys.stderr)
        return 2
    except subprocess.SubprocessError as exc:
        print(f"trunkline stack: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
