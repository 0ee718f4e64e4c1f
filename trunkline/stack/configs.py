"""Per-run configuration files for livekit-server and livekit-sip.

Written as JSON, which is valid YAML (both servers read YAML), so no YAML library is needed and
every value is quoted exactly. Each run gets its own API secret: nothing may depend on a
well-known development key, and livekit-server refuses secrets shorter than 32 characters.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any


def new_secret() -> str:
    return secrets.token_urlsafe(32)


AGENT_TARGET_LOAD = 1.5


@dataclass(frozen=True)
class Ports:
    """Where each service listens on the stack's host address (Redis on loopback)."""

    redis: int
    http: int
    rtc_tcp: int
    rtc_udp: int
    sip: int
    sip_rtp: tuple[int, int]
    sip_health: int


def server_config(host: str, ports: Ports, api_key: str, api_secret: str) -> dict[str, Any]:
    """livekit-server bound to ``host`` only (never loopback: WebRTC skips it), one UDP port
    for all media, no TURN, and ``host`` as the only ICE address (no external IP discovery)."""
    return {
        "port": ports.http,
        "bind_addresses": [host],
        "keys": {api_key: api_secret},
        "redis": {"address": f"127.0.0.1:{ports.redis}"},
        "rtc": {
            "tcp_port": ports.rtc_tcp,
            "udp_port": ports.rtc_udp,
            "use_external_ip": False,
            "node_ip": host,
        },
        "turn": {"enabled": False},
        # A worker reports the machine's CPU use as its load, and the server offers a job only
        # while that is under the target (0.7 by default). On one machine the callers, tools and
        # servers driving the worker share its CPU, so that figure says nothing about the
        # worker's spare capacity: above 1.0 a registered worker is always offered the job.
        "agents": {"target_load": AGENT_TARGET_LOAD},
        "logging": {"level": "info", "json": False},
    }


def sip_config(host: str, ports: Ports, api_key: str, api_secret: str) -> dict[str, Any]:
    """livekit-sip on ``host`` (SIP over UDP and TCP, RTP in a small range), talking to the
    server above over Redis and its WebSocket."""
    low, high = ports.sip_rtp
    return {
        "api_key": api_key,
        "api_secret": api_secret,
        "ws_url": f"ws://{host}:{ports.http}",
        "redis": {"address": f"127.0.0.1:{ports.redis}"},
        "sip_port": ports.sip,
        "listen_ip": host,
        "nat_1_to_1_ip": host,
        "use_external_ip": False,
        "rtp_port": f"{low}-{high}",
        "health_port": ports.sip_health,
        # livekit-sip's health check reports "under load" (HTTP 429) once the machine's CPU is
        # over this share, for a load balancer to route around it; on one shared machine that
        # says nothing about the gateway, so only a fully busy CPU counts (1.0 is its maximum)
        "max_cpu_utilization": 1.0,
        "logging": {"level": "debug"},
    }


def dumps(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2) + "\n"
