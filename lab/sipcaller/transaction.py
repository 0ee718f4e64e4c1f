"""Client transactions (RFC 3261 §17.1): retransmission, timeouts and the ACK for failures.

INVITE (§17.1.1): over UDP the request is resent after T1, 2·T1, 4·T1… (Timer A) until any
response arrives; with no response at all the call fails after 64·T1 (Timer B, 32 s). A
provisional response stops both — the far end is alive, and livekit-sip rings until the agent
has published audio, which may take a while. A final non-2xx is acknowledged here, inside the
transaction (same branch, the response's To tag), and again for each retransmission of it. A 2xx
ends the transaction: its ACK is the dialog's business (§13.2.2.4).

Other requests (§17.1.2): resent after T1, doubling up to T2 (Timer E; every T2 once a
provisional came), and given up after 64·T1 (Timer F). Over TCP nothing is resent; only the
timeouts apply. Every wait is on the injected :class:`~lab.sipcaller.clock.Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from lab.sipcaller.clock import Clock
from lab.sipcaller.errors import SipTimeout
from lab.sipcaller.message import Headers, Request, Response

logger = logging.getLogger(__name__)

Address = tuple[str, int]
Send = Callable[[bytes, Address], Awaitable[None]]


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.warning("sending an ACK failed: %s", exc)


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer values; tests shrink T1 to make a timeout quick, never to assert time."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """Timer B and Timer F: 64·T1."""
        return 64 * self.t1

    def retransmissions(self, invite: bool) -> Iterator[float]:
        """Intervals between sends before a provisional response (Timer A or Timer E)."""
        interval = self.t1
        while True:
            yield interval
            interval = interval * 2 if invite else min(interval * 2, self.t2)


class State(enum.Enum):
    CALLING = "calling"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


def ack_for_failure(request: Request, response: Response) -> Request:
    """The ACK for a final non-2xx response to ``request`` (RFC 3261 §17.1.1.3)."""
    headers = Headers()
    headers.add("Via", request.headers.get_all("Via")[0])
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.header("From"))
    headers.add("To", response.header("To"))
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq.number} ACK")
    return Request(headers=headers, method="ACK", uri=request.uri)


class ClientTransaction:
    """One request sent and the responses it gets, in arrival order, through :meth:`response`."""

    def __init__(
        self,
        request: Request,
        dest: Address,
        send: Send,
        *,
        reliable: bool,
        clock: Clock,
        timers: Timers,
        on_terminated: Callable[[ClientTransaction], None],
    ) -> None:
        self.request = request
        self.dest = dest
        self.invite = request.method == "INVITE"
        self.state = State.CALLING
        self._data = request.encode()
        self._send = send
        self._reliable = reliable
        self._clock = clock
        self._timers = timers
        self._on_terminated = on_terminated
        self._responses: asyncio.Queue[Response | None] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._ack: bytes | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> tuple[str, str]:
        branch = self.request.branch
        assert branch is not None  # the endpoint only sends requests it put a branch on
        return branch, self.request.method

    async def start(self) -> None:
        await self._send(self._data, self.dest)
        self._task = asyncio.create_task(self._run())

    def receive(self, response: Response) -> None:
        """A response matched to this transaction (called from the transport's callback)."""
        if self.state in (State.COMPLETED, State.TERMINATED):
            if self._ack is not None:  # a retransmitted final: its ACK got lost
                self._fire(self._ack)
            return
        if response.status < 200:
            self.state = State.PROCEEDING
        elif self.invite and response.status < 300:
            self.state = State.TERMINATED
        else:
            self.state = State.COMPLETED
            if self.invite:
                self._ack = ack_for_failure(self.request, response).encode()
                self._fire(self._ack)
        self._responses.put_nowait(response)
        self._changed.set()

    async def response(self) -> Response:
        """The next response; :class:`SipTimeout` when Timer B/F fired first."""
        response = await self._responses.get()
        if response is None:
            self._responses.put_nowait(None)  # every later call times out too
            raise SipTimeout(
                f"no response to {self.request.method} {self.request.uri} "
                f"within {self._timers.timeout:g} s"
            )
        return response

    async def final(self) -> Response:
        """The final response, skipping provisionals."""
        while (response := await self.response()).status < 200:
            pass
        return response

    def _fire(self, data: bytes) -> None:
        """Send from a synchronous callback; a failure is logged (the timers cover the loss)."""
        task = asyncio.ensure_future(self._send(data, self.dest))
        task.add_done_callback(_log_failure)

    async def _run(self) -> None:
        try:
            await self._retransmit()
            if self.state is State.COMPLETED and not self._reliable:
                # stay to absorb retransmitted finals (Timer D 64·T1 = 32 s, Timer K = T4)
                await self._clock.sleep_until(
                    self._clock.now() + (self._timers.timeout if self.invite else self._timers.t4)
                )
        finally:
            self.state = State.TERMINATED
            self._on_terminated(self)

    async def _retransmit(self) -> None:
        start = self._clock.now()
        give_up = start + self._timers.timeout
        intervals = self._timers.retransmissions(self.invite)
        resend_at = start + next(intervals)
        while self.state in (State.CALLING, State.PROCEEDING):
            if self.invite and self.state is State.PROCEEDING:
                self._changed.clear()
                await self._changed.wait()
                continue
            wake = give_up if self._reliable else min(resend_at, give_up)
            if await self._wait(wake):
                continue
            now = self._clock.now()
            if now >= give_up:
                self._responses.put_nowait(None)
                return
            await self._send(self._data, self.dest)
            interval = self._timers.t2 if self.state is State.PROCEEDING else next(intervals)
            resend_at += interval

    async def _wait(self, until: float) -> bool:
        """Sleep until ``until``; True if a response changed the state first."""
        self._changed.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep_until(until))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            done, _ = await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # not awaited: awaiting them here could swallow a cancellation of this transaction
            sleeper.cancel()
            changed.cancel()
        return changed in done

    async def close(self) -> None:
        """Abandon the transaction (the call is being torn down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
