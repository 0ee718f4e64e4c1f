"""The SIP socket with its transactions: requests out, responses matched, requests in.

Responses are matched to client transactions by the top Via's branch and the CSeq method
(RFC 3261 §17.1.3); one that matches none — a 2xx to an INVITE whose transaction has ended,
retransmitted because our ACK was lost — goes to the call, which re-sends the ACK. For requests
from the far end the endpoint is a minimal server transaction layer (§17.2): the response given
to a request is remembered by branch and method and sent again, unchanged, if the request is
retransmitted, so the call sees each request once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from lab.sipcaller.address import format_host
from lab.sipcaller.clock import Clock
from lab.sipcaller.message import Message, Request, Response
from lab.sipcaller.transaction import ClientTransaction, Timers
from lab.sipcaller.transport import Address, Reply, Transport, TransportName, open_transport

logger = logging.getLogger(__name__)

RequestHandler = Callable[[Request, Reply], None]
ResponseHandler = Callable[[Response], None]
#: RFC 3261 §8.1.1.7: a branch starting with this says the sender follows RFC 3261.
MAGIC_COOKIE = "z9hG4bK"


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(10)


class Endpoint:
    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        on_request: RequestHandler,
        on_stray_response: ResponseHandler,
    ) -> None:
        self._clock = clock
        self._timers = timers
        self._on_request = on_request
        self._on_stray_response = on_stray_response
        self._transport: Transport | None = None
        self._host = ""
        self.port = 0
        """The bound SIP port (kept after closing, for reports)."""
        self._transactions: dict[tuple[str, str], ClientTransaction] = {}
        self._answered: dict[tuple[str, str], bytes] = {}

    async def open(self, transport: TransportName, host: str, port: int) -> None:
        self._host = host
        self._transport = await open_transport(transport, host, port, self._inbound)
        self.port = self._transport.local[1]

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise ConnectionError("the SIP endpoint is not open")
        return self._transport

    @property
    def sent_by(self) -> str:
        """``host:port`` as Via and Contact advertise it: the address the caller was given."""
        return f"{format_host(self._host)}:{self.port}"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/{self.transport.name} {self.sent_by};branch={branch};rport"

    def contact(self, user: str) -> str:
        transport = ";transport=tcp" if self.transport.name == "TCP" else ""
        return f"<sip:{user}@{self.sent_by}{transport}>"

    async def request(self, request: Request, dest: Address) -> ClientTransaction:
        """Send ``request`` (its top Via carries a fresh branch) in a new client transaction."""
        transaction = ClientTransaction(
            request,
            dest,
            self.transport.send,
            reliable=self.transport.reliable,
            clock=self._clock,
            timers=self._timers,
            on_terminated=self._forget,
        )
        self._transactions[transaction.key] = transaction
        await transaction.start()
        return transaction

    async def send(self, message: Message, dest: Address) -> None:
        """Send outside any transaction (the ACK for a 2xx, RFC 3261 §13.2.2.4)."""
        await self.transport.send(message.encode(), dest)

    def respond(self, request: Request, response: Response, reply: Reply) -> None:
        data = response.encode()
        if request.branch:  # an RFC 2543 peer without branches gets no retransmission matching
            self._answered[(request.branch, request.method)] = data
        reply(data)

    def _forget(self, transaction: ClientTransaction) -> None:
        if self._transactions.get(transaction.key) is transaction:
            del self._transactions[transaction.key]

    def _inbound(self, message: Message, source: Address, reply: Reply) -> None:
        branch = message.branch
        if isinstance(message, Response):
            key = (branch or "", message.cseq.method)
            transaction = self._transactions.get(key)
            if transaction is not None:
                transaction.receive(message)
            else:
                self._on_stray_response(message)
            return
        answered = self._answered.get((branch or "", message.method))
        if answered is not None and message.method != "ACK":
            reply(answered)  # a retransmission: the same response again
            return
        logger.debug("%s from %s", message.method, source)
        self._on_request(message, reply)

    async def close(self) -> None:
        for transaction in list(self._transactions.values()):
            await transaction.close()
        self._transactions.clear()
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
