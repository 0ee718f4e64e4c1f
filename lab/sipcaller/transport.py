"""SIP over UDP and TCP (RFC 3261 §18): bytes to and from the network, cut into messages.

Both bind to the one local address the caller is given and advertise it, so the user agent
works when the far end is on another address of the same host (livekit-sip on a namespace
veth address must never see a loopback Via). Over UDP every message is one datagram and a
response goes back to the source address of its request (symmetric signalling, as ``rport``
asks). Over TCP the transport listens on its port too, because the far end may open its own
connection to the Contact address for requests within the dialog, and responses go back on the
connection their request came in on. A malformed message is logged, counted and dropped — over
TCP the connection is closed, since its framing can no longer be trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal, Protocol

from lab.sipcaller.errors import SipParseError
from lab.sipcaller.message import Message, StreamFramer, parse

logger = logging.getLogger(__name__)

Address = tuple[str, int]
Reply = Callable[[bytes], None]
"""Sends bytes back the way a received request came."""
Handler = Callable[[Message, Address, Reply], None]
TransportName = Literal["UDP", "TCP"]


class Transport(Protocol):
    name: TransportName
    reliable: bool
    malformed: int

    @property
    def local(self) -> Address: ...

    async def send(self, data: bytes, dest: Address) -> None: ...

    async def close(self) -> None: ...


class UdpTransport(asyncio.DatagramProtocol):
    name: TransportName = "UDP"
    reliable = False

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._transport: asyncio.DatagramTransport | None = None
        self.malformed = 0

    @classmethod
    async def open(cls, host: str, port: int, handler: Handler) -> UdpTransport:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: cls(handler), local_addr=(host, port)
        )
        protocol._transport = transport  # connection_made may not have run yet
        return protocol

    @property
    def local(self) -> Address:
        if self._transport is None:
            raise ConnectionError("the SIP socket is closed")
        sockname = self._transport.get_extra_info("sockname")
        return sockname[0], sockname[1]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if not data.strip(b"\r\n"):
            return  # a keep-alive (RFC 5626 §3.5.1), not a message
        try:
            message = parse(data)
        except SipParseError as exc:
            self.malformed += 1
            logger.warning("malformed SIP datagram from %s dropped: %s", addr, exc)
            return
        source = (addr[0], addr[1])
        self._handler(message, source, lambda reply: self._sendto(reply, source))

    def error_received(self, exc: Exception) -> None:
        logger.debug("SIP socket error: %s", exc)

    def _sendto(self, data: bytes, dest: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, dest)

    async def send(self, data: bytes, dest: Address) -> None:
        if self._transport is None:
            raise ConnectionError("the SIP socket is closed")
        self._transport.sendto(data, dest)

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class TcpTransport:
    name: TransportName = "TCP"
    reliable = True

    def __init__(self, host: str, handler: Handler) -> None:
        self._host = host
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._outgoing: dict[Address, asyncio.StreamWriter] = {}
        self._readers: set[asyncio.Task[Any]] = set()
        self.malformed = 0

    @classmethod
    async def open(cls, host: str, port: int, handler: Handler) -> TcpTransport:
        transport = cls(host, handler)
        transport._server = await asyncio.start_server(transport._accepted, host, port)
        return transport

    @property
    def local(self) -> Address:
        if self._server is None or not self._server.sockets:
            raise ConnectionError("the SIP listener is closed")
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio runs each connection callback in a task of its own
        self._readers.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._read(reader, writer, (peer[0], peer[1]))
        finally:
            self._readers.discard(task)

    def _track(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Address
    ) -> None:
        task = asyncio.create_task(self._read(reader, writer, peer))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Address
    ) -> None:
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for message in framer.feed(data):
                    self._handler(message, peer, writer.write)
        except SipParseError as exc:
            self.malformed += 1
            logger.warning("malformed SIP stream from %s, closing it: %s", peer, exc)
        except ConnectionError as exc:
            logger.debug("SIP connection from %s lost: %s", peer, exc)
        finally:
            writer.close()
            for dest, known in list(self._outgoing.items()):
                if known is writer:
                    del self._outgoing[dest]

    async def send(self, data: bytes, dest: Address) -> None:
        writer = self._outgoing.get(dest)
        if writer is None or writer.is_closing():
            reader, writer = await asyncio.open_connection(
                dest[0], dest[1], local_addr=(self._host, 0)
            )
            self._outgoing[dest] = writer
            self._track(reader, writer, dest)
        writer.write(data)
        await writer.drain()

    async def close(self) -> None:
        for writer in self._outgoing.values():
            writer.close()
        self._outgoing.clear()
        for task in list(self._readers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def open_transport(name: TransportName, host: str, port: int, handler: Handler) -> Transport:
    if name == "UDP":
        return await UdpTransport.open(host, port, handler)
    return await TcpTransport.open(host, port, handler)
