"""Debian's ``sipp`` (package sip-tester) as the far end of a call: one UAS scenario, one call.

A scenario passes only when sipp saw every message it expects, with every ``ereg check_it``
matching, and exits 0. The XML is parsed before sipp starts, because sipp stops reading a
scenario at the first malformed element and then passes the truncated one. sipp's message log
(every message sent and received, verbatim) is returned for checks sipp cannot make itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tests.waiting import eventually

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP_HOST = "127.0.0.1"
#: The caller binds another address of the same host, as it will beside livekit-sip.
CALLER_HOST = "127.0.0.2"
_RUN_TIMEOUT_S = 30


def sipp_binary() -> str:
    """The sipp executable; without it the test skips, or fails under CI (which installs it)."""
    path = shutil.which("sipp")
    if path is None:
        reason = "sipp is not installed (Debian: apt-get install sip-tester)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return path


def free_port(host: str, kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _bound(host: str, port: int, tcp: bool) -> bool:
    """Whether something listens on host:port, read from /proc (this network namespace's)."""
    table = Path("/proc/net/tcp" if tcp else "/proc/net/udp").read_text()
    octets = socket.inet_aton(host)[::-1].hex().upper()
    wanted = f"{octets}:{port:04X}"
    for line in table.splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and (not tcp or fields[3] == "0A"):
            return True
    return False


@dataclass(frozen=True)
class SippResult:
    returncode: int
    messages: str
    errors: str
    screen: str

    def explain(self) -> str:
        return (
            f"sipp exited {self.returncode}\n--- errors ---\n{self.errors}\n"
            f"--- screen ---\n{self.screen[-3000:]}\n--- messages ---\n{self.messages[-6000:]}"
        )

    def sent_by_caller(self, method: str) -> list[str]:
        """Every request ``method`` sipp received, verbatim, in order."""
        blocks = re.split(r"-{10,} [^\n]*\n", self.messages)
        found = []
        for block in blocks:
            head, _, message = block.partition("\n\n")
            if "message received" in head and message.startswith(method + " "):
                found.append(message.strip())
        return found


class Sipp:
    """The running far end: where to dial it, and after the block what it saw."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._result: SippResult | None = None

    def target(self, user: str, transport: str = "udp") -> str:
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:{user}@{self.host}:{self.port}{suffix}"

    @property
    def result(self) -> SippResult:
        if self._result is None:
            raise RuntimeError("sipp is still running")
        return self._result


@contextlib.asynccontextmanager
async def sipp_uas(
    scenario: str,
    tmp_path: Path,
    *,
    keys: Mapping[str, str],
    transport: Literal["udp", "tcp"] = "udp",
) -> AsyncIterator[Sipp]:
    """Run sipp with ``scenario`` for one call; on leaving, wait for it and keep its result."""
    binary = sipp_binary()
    path = SCENARIOS / scenario
    ET.parse(path)  # a malformed scenario must fail here, not pass truncated
    tcp = transport == "tcp"
    port = free_port(SIPP_HOST, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    files = {name: tmp_path / f"sipp-{name}.log" for name in ("messages", "errors", "screen")}
    args = [
        binary, "-sf", str(path), "-i", SIPP_HOST, "-p", str(port),
        "-t", "t1" if tcp else "u1", "-m", "1", "-nostdin",
        "-timeout", f"{_RUN_TIMEOUT_S}s", "-timeout_error",
        "-mp", str(free_port(SIPP_HOST, socket.SOCK_DGRAM)),
        "-trace_msg", "-message_file", str(files["messages"]),
        "-trace_err", "-error_file", str(files["errors"]),
    ]  # fmt: skip
    for name, value in keys.items():
        args += ["-key", name, value]
    with files["screen"].open("wb") as screen:
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=screen, stderr=screen, cwd=tmp_path
        )
    sipp = Sipp(SIPP_HOST, port)
    try:
        await eventually(
            lambda: _bound(SIPP_HOST, port, tcp) or process.returncode is not None,
            within_s=5,
            every_s=0.02,
        )
        yield sipp
        async with asyncio.timeout(_RUN_TIMEOUT_S + 5):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        texts = {n: f.read_text(errors="replace") if f.exists() else "" for n, f in files.items()}
        assert process.returncode is not None
        sipp._result = SippResult(
            process.returncode, texts["messages"], texts["errors"], texts["screen"]
        )
