"""Leaving and closing leave nothing behind: no participants, no tasks, no sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from . import netns
from .clients import Events, Tone, join
from .server import LiveKitTestServer, ServerConfig

pytestmark = pytest.mark.netns

POLL_S = 0.05
PACKAGES = ("/tests/livekit_server/", "/aiortc/", "/aioice/")


def sockets_on(address: str, table: str) -> list[str]:
    """Local endpoints of open sockets bound to ``address`` (``/proc/net/<table>``).

    Open means owned by a file descriptor (non-zero inode): a TCP connection lingering in
    TIME_WAIT after a clean close is the kernel's, not a leak.
    """
    wanted = socket.inet_aton(address)[::-1].hex().upper()
    found = []
    for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
        fields = line.split()
        host, port = fields[1].split(":")
        if host == wanted and fields[9] != "0":
            found.append(f"{ipaddress.ip_address(bytes.fromhex(host)[::-1])}:{int(port, 16)}")
    return found


def server_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks running code of the server or the WebRTC stack under it."""
    current = asyncio.current_task()
    found = []
    for task in asyncio.all_tasks():
        if task is current or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and any(p in code.co_filename for p in PACKAGES):
            found.append(task)
    return found


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll state nothing announces (kernel socket tables, tasks of other libraries)."""
    for _ in range(int(seconds / POLL_S)):
        if condition():
            return
        await asyncio.sleep(POLL_S)
    assert condition()


async def test_a_finished_call_leaves_no_tasks_or_sockets(netns_address: str) -> None:
    udp_before = sockets_on(netns.ADDRESS, "udp")
    config = ServerConfig(host=netns_address, departure_timeout_s=0.2)
    async with LiveKitTestServer(config) as server:
        alice = await join(server, "alice", "call")
        bob = await join(server, "bob", "call")
        events = Events(bob, "track_subscribed", "data_received")
        tone = Tone(440.0)
        await tone.publish(alice)
        await events.next("track_subscribed")
        await alice.local_participant.publish_data(b"bye")
        await events.next("data_received")
        assert len(sockets_on(netns.ADDRESS, "udp")) > len(udp_before)
        await tone.aclose()
        await alice.disconnect()
        await bob.disconnect()
        room = server.rooms.get("call")
        assert room is not None
        async with asyncio.timeout(5):
            await room.wait_closed()
        assert room.participants == {} and server.rooms.rooms == {}
        await eventually(lambda: not server_tasks())
        # nothing this call opened is still open (sockets other tests left may close meanwhile)
        await eventually(lambda: set(sockets_on(netns.ADDRESS, "udp")) <= set(udp_before))
        tcp = sockets_on(netns.ADDRESS, "tcp")
        assert tcp == [f"{netns.ADDRESS}:{server.port}"], "only the listening socket is left"
    assert server_tasks() == []
    assert sockets_on(netns.ADDRESS, "tcp") == []
