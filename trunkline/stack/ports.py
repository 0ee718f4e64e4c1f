"""Ports for a stack: LiveKit's usual ones for people, free ones for tests and the lab.

Tests and the lab may run a second stack beside a first (a server killed and restarted, a lab
run during a test session), so they take ports nobody holds; a person's stack uses the ports
LiveKit's documentation and softphone examples assume.
"""

from __future__ import annotations

import random
import socket

from trunkline.stack.configs import Ports

#: livekit-server's and livekit-sip's documented defaults
STANDARD = Ports(
    redis=6379,
    http=7880,
    rtc_tcp=7881,
    rtc_udp=7882,
    sip=5060,
    sip_rtp=(10000, 10200),
    sip_health=8082,
)
SIP_RTP_SPAN = 100


def _free(host: str, kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _is_free(host: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_both(host: str) -> int:
    """A port free for both TCP and UDP (SIP listens on both)."""
    while True:
        port = _free(host, socket.SOCK_STREAM)
        if _is_free(host, port, socket.SOCK_DGRAM):
            return port


def _free_udp_range(host: str, span: int) -> tuple[int, int]:
    rng = random.Random()
    while True:
        low = rng.randrange(20000, 40000 - span)
        if all(_is_free(host, p, socket.SOCK_DGRAM) for p in (low, low + span // 2, low + span)):
            return (low, low + span)


def free_ports(host: str) -> Ports:
    """Ports no process on ``host`` (and loopback, for Redis) holds right now."""
    return Ports(
        redis=_free("127.0.0.1", socket.SOCK_STREAM),
        http=_free(host, socket.SOCK_STREAM),
        rtc_tcp=_free(host, socket.SOCK_STREAM),
        rtc_udp=_free(host, socket.SOCK_DGRAM),
        sip=_free_both(host),
        sip_rtp=_free_udp_range(host, SIP_RTP_SPAN),
        sip_health=_free(host, socket.SOCK_STREAM),
    )
