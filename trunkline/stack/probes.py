"""Readiness checks that speak each server's own protocol, not just "a port is open"."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

PROBE_TIMEOUT_S = 1.0
#: no proxy from the environment: every probe is for a server on this machine
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def redis_ping(host: str, port: int) -> bool:
    """Redis answers ``PING`` with ``+PONG`` once it serves commands."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """``url`` answers 200 (livekit-server's ``/`` says OK; livekit-sip's health port too)."""
    try:
        with _OPENER.open(url, timeout=PROBE_TIMEOUT_S) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False
