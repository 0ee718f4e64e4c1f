"""The call's RTP socket: the paced sender and the recorder on one UDP port.

One socket sends and receives (symmetric RTP), so a gateway that latches onto the source
address of what it receives — livekit-sip does — sends back to the port the SDP offer named.
The port is even where the system allows (RFC 3550 §11). Datagrams that are not RTP (RTCP
multiplexed on the port, garbage) are counted and dropped; the recorder never stops on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from lab.sipcaller.clock import Clock
from lab.sipcaller.errors import CallStateError, SipParseError
from lab.sipcaller.outbox import Outbox
from lab.sipcaller.pacer import PacerStats, pace
from lab.sipcaller.recording import Recording
from lab.sipcaller.rtp import RtpPacket, is_rtcp
from lab.sipcaller.sdp import PCMU, TELEPHONE_EVENT

logger = logging.getLogger(__name__)

Address = tuple[str, int]
_EVEN_PORT_ATTEMPTS = 20


class RtpSession(asyncio.DatagramProtocol):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # what the far end sends us uses the payload types of our offer (RFC 3264 §5.1)
        self.recording = Recording(audio_pt=PCMU, event_pt=TELEPHONE_EVENT)
        self.stats = PacerStats()
        self.local_port = 0
        """The bound port (kept after closing, for reports)."""
        self.outbox: Outbox | None = None
        self.remote: Address | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, host: str, clock: Clock) -> RtpSession:
        """Bind a UDP port on ``host``; an even one, if one of a few tries gets one."""
        loop = asyncio.get_running_loop()
        attempts = 0
        while True:
            transport, session = await loop.create_datagram_endpoint(
                lambda: cls(clock), local_addr=(host, 0)
            )
            session._transport = transport  # connection_made may not have run yet
            session.local_port = transport.get_extra_info("sockname")[1]
            attempts += 1
            if session.local_port % 2 == 0 or attempts == _EVEN_PORT_ATTEMPTS:
                return session
            transport.close()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        arrival = self._clock.now()
        if is_rtcp(data):
            self.recording.ignore()
            return
        try:
            self.recording.add(RtpPacket.decode(data), arrival)
        except SipParseError as exc:
            self.recording.ignore()
            logger.debug("RTP from %s dropped: %s", addr, exc)

    def error_received(self, exc: Exception) -> None:
        logger.debug("RTP socket error: %s", exc)

    def start(self, remote: Address, audio_pt: int, event_pt: int | None) -> Outbox:
        """Start sending to ``remote``: silence at once, then whatever gets queued."""
        if self._sender is not None:
            raise CallStateError("RTP is already being sent")
        self.remote = remote
        self.outbox = Outbox(
            ssrc=secrets.randbits(32),
            first_sequence=secrets.randbits(16),
            first_timestamp=secrets.randbits(32),
            audio_pt=audio_pt,
            event_pt=event_pt,
        )
        self._sender = asyncio.create_task(pace(self._clock, self._tick, self.stats))
        return self.outbox

    def _tick(self, n: int, now: float) -> None:
        assert self.outbox is not None and self.remote is not None  # set before pacing starts
        if self._transport is not None:
            self._transport.sendto(self.outbox.tick(n, now).encode(), self.remote)

    def halt(self, reason: str) -> None:
        """Stop sending (the call ended); receiving goes on until :meth:`close`."""
        if self.outbox is not None:
            self.outbox.close(reason)
        if self._sender is not None:
            self._sender.cancel()

    async def close(self) -> None:
        self.halt("the call is closed")
        if self._sender is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self._transport is not None:
            self._transport.close()
            self._transport = None
