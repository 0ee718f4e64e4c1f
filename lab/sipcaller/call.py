"""One call as a Twilio Elastic SIP trunk places it into LiveKit SIP, driven from a test.

:meth:`SipCall.dial` sends the INVITE (PCMU + telephone-event offer) and answers a 401/407
digest challenge once; the call is answered when a 2xx comes, which is ACKed along its route
set, and from then on RTP flows every 20 ms — queued speech and key presses, else silence, so
livekit-sip's media timeouts never fire. What the far end does is recorded with arrival times:
provisional responses, every request it sends, the RTP it sends (:meth:`SipCall.heard`). BYE is
answered 200 and ends the call; REFER is accepted (202), recorded, and reported back with a
``message/sipfrag`` NOTIFY so the transferor can finish; OPTIONS is answered 200. Leaving the
``async with`` hangs up: BYE when answered, CANCEL while ringing.

Nothing here blocks without a bound: every request is a transaction with RFC 3261 timeouts
(64·T1), and what is awaited after that is the call's own future. Waiting for the answer is
open-ended once the far end rings (livekit-sip holds 200 until the agent publishes audio, up to
three minutes), so a test bounds :meth:`SipCall.answered` with its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from lab.sipcaller import sdp
from lab.sipcaller.address import NameAddr, SipUri
from lab.sipcaller.clock import Clock, MonotonicClock
from lab.sipcaller.dialog import Dialog
from lab.sipcaller.digest import Challenge, Credentials, authorization
from lab.sipcaller.dtmf import event_code, event_ticks
from lab.sipcaller.endpoint import Endpoint, new_branch
from lab.sipcaller.errors import CallFailed, CallRejected, CallStateError, SipError, SipTimeout
from lab.sipcaller.media import RtpSession
from lab.sipcaller.message import Headers, Request, Response, response_to
from lab.sipcaller.outbox import SAMPLES_PER_TICK, SILENCE, Outbox, SendReport, Step
from lab.sipcaller.pacer import PacerStats
from lab.sipcaller.recording import RATE, Heard
from lab.sipcaller.transaction import ClientTransaction, Timers
from lab.sipcaller.transport import Address, Reply
from sip import g711
from trunkline.resample import resample

logger = logging.getLogger(__name__)

#: Methods the far end may send us in the dialog (what :meth:`SipCall._on_request` answers).
ALLOW: Final = "ACK, BYE, CANCEL, OPTIONS, REFER"
TICK_MS: Final = 20
_SIPFRAG = re.compile(r"SIP/2\.0 [1-6]\d\d .+")


@dataclass(frozen=True)
class DialOptions:
    target: str
    """The Request-URI, e.g. ``sip:+15550100@10.88.0.1:5060``."""
    from_number: str
    """The caller's number, the From user (what livekit-sip matches ``allowed_numbers`` on)."""
    local_host: str
    """The IP address to bind and to advertise in Via, Contact and SDP."""
    local_port: int = 0
    transport: Literal["udp", "tcp"] = "udp"
    auth: Credentials | None = None
    from_host: str | None = None
    """The From URI's host; the local address when None."""
    display_name: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Extra INVITE headers (``X-…`` headers become participant attributes in livekit-sip)."""
    timers: Timers = field(default_factory=Timers)
    transfer_sipfrag: str = "SIP/2.0 200 OK"
    """The status line the NOTIFY after a REFER reports (the transfer's outcome)."""
    user_agent: str = "trunkline-sipcaller"

    def __post_init__(self) -> None:
        SipUri.parse(self.target)
        try:
            address = ipaddress.ip_address(self.local_host)
        except ValueError as exc:
            raise ValueError(f"local_host must be an IP address, not {self.local_host!r}") from exc
        if address.is_unspecified:
            raise ValueError("local_host must be the address to advertise, not a wildcard")
        if not re.fullmatch(r"[A-Za-z0-9+\-_.!~*'()&=$,;?/]+", self.from_number):
            raise ValueError(f"from_number {self.from_number!r} is not a SIP user part")
        if self.transport not in ("udp", "tcp"):
            raise ValueError(f"transport must be udp or tcp, not {self.transport!r}")
        if not _SIPFRAG.fullmatch(self.transfer_sipfrag):
            raise ValueError(f"transfer_sipfrag {self.transfer_sipfrag!r} is not a status line")


class Ending(enum.Enum):
    BYE_SENT = "bye-sent"
    BYE_RECEIVED = "bye-received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class Ended:
    how: Ending
    at: float
    detail: str


@dataclass(frozen=True)
class Progress:
    status: int
    reason: str
    at: float


@dataclass(frozen=True)
class Answered:
    status: int
    reason: str
    at: float
    media: sdp.Answer
    sdp: str


@dataclass(frozen=True)
class Refer:
    refer_to: str
    referred_by: str | None
    at: float


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    at: float
    request: Request


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.warning("call task failed: %r", exc)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen: the call keeps failures for whoever asks."""
    if not future.cancelled():
        future.exception()


class SipCall:
    def __init__(self, options: DialOptions, clock: Clock) -> None:
        loop = asyncio.get_running_loop()
        self.options = options
        self.clock = clock
        self.target = SipUri.parse(options.target)
        self.call_id = f"{secrets.token_hex(12)}@{options.local_host}"
        local_uri = SipUri(host=options.from_host or options.local_host, user=options.from_number)
        self._local = NameAddr(str(local_uri), options.display_name).with_tag(secrets.token_hex(6))
        self.progress: list[Progress] = []
        self.requests: list[ReceivedRequest] = []
        self.refers: list[Refer] = []
        self.answer: asyncio.Future[Answered] = loop.create_future()
        self.bye_received: asyncio.Future[float] = loop.create_future()
        self.refer_received: asyncio.Future[Refer] = loop.create_future()
        self.transfer_notified: asyncio.Future[int] = loop.create_future()
        """Final status of our NOTIFY reporting the transfer's outcome."""
        self.ended: asyncio.Future[Ended] = loop.create_future()
        for future in (self.answer, self.transfer_notified):
            future.add_done_callback(_retrieve)
        self._endpoint = Endpoint(clock, options.timers, self._on_request, self._on_stray_response)
        self._media: RtpSession | None = None
        self._dest: Address | None = None
        self._invite: Request | None = None
        self._provisional = asyncio.Event()
        self._dialog: Dialog | None = None
        self._dialog_dest: Address | None = None
        self._ack: Request | None = None
        self._cancelling = False
        self._hanging_up = False
        self._tasks: set[asyncio.Future[Any]] = set()

    # --- setting up --------------------------------------------------------------------

    @staticmethod
    @contextlib.asynccontextmanager
    async def dial(options: DialOptions, *, clock: Clock | None = None) -> AsyncIterator[SipCall]:
        """Place the call; on leaving, hang up (BYE or CANCEL) and close the sockets."""
        call = SipCall(options, clock or MonotonicClock())
        try:
            await call._start()
            try:
                yield call
            finally:
                await call.hang_up()
        finally:
            await call._close()

    async def _start(self) -> None:
        o = self.options
        await self._endpoint.open(
            "UDP" if o.transport == "udp" else "TCP", o.local_host, o.local_port
        )
        self._media = await RtpSession.open(o.local_host, self.clock)
        self._dest = await self._resolve(self.target)
        self._spawn(self._invite_flow())

    async def _resolve(self, uri: SipUri) -> Address:
        """The address a request to ``uri`` goes to (RFC 3263 without DNS SRV/NAPTR)."""
        if uri.scheme != "sip":
            raise CallFailed(f"{uri}: {uri.scheme}: needs TLS, which this user agent does not do")
        wanted = uri.param("transport")
        if wanted and wanted.lower() != self.options.transport:
            raise CallFailed(f"{uri} asks for {wanted}, this call uses {self.options.transport}")
        port = uri.port or 5060
        try:
            ipaddress.ip_address(uri.host)
            return uri.host, port
        except ValueError:
            pass
        kind = socket.SOCK_DGRAM if self.options.transport == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in self.options.local_host else socket.AF_INET
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                uri.host, port, family=family, type=kind
            )
        except OSError as exc:
            raise CallFailed(f"cannot resolve {uri.host}: {exc}") from exc
        host, resolved_port = infos[0][4][0], infos[0][4][1]
        return str(host), int(resolved_port)

    def _spawn(self, work: Awaitable[object]) -> None:
        """Run ``work`` beside the caller; a failure is logged, never left unretrieved."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    def _build_invite(self, cseq: int, credentials: tuple[str, str] | None) -> Request:
        media = self._require_media()
        target = SipUri(host=self.target.host, user=self.target.user, port=self.target.port)
        headers = Headers()
        headers.add("Via", self._endpoint.via(new_branch()))
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self._local))
        headers.add("To", str(NameAddr(str(target))))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} INVITE")
        headers.add("Contact", self._endpoint.contact(self.options.from_number))
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", self.options.user_agent)
        for name, value in self.options.headers:
            headers.add(name, value)
        if credentials is not None:
            headers.add(*credentials)
        headers.add("Content-Type", "application/sdp")
        body = sdp.offer(self.options.local_host, media.local_port, secrets.randbelow(2**62))
        return Request(headers=headers, body=body.encode(), method="INVITE", uri=str(self.target))

    async def _invite_flow(self) -> None:
        try:
            await self._invite_until_answered()
        except Exception as exc:  # every failure must reach answered(), or a test would hang
            error = exc if isinstance(exc, SipError) else CallFailed(f"INVITE failed: {exc!r}")
            if error is not exc:
                error.__cause__ = exc
            if not self.answer.done():
                self.answer.set_exception(error)
            if isinstance(error, CallRejected):
                cancelled = error.status == 487 and self._cancelling
                self._end(Ending.CANCELLED if cancelled else Ending.REJECTED, str(error))
            else:
                self._end(Ending.FAILED, str(error))

    async def _invite_until_answered(self) -> None:
        assert self._dest is not None  # _start resolves it before the flow starts
        cseq, credentials, challenges = 1, None, 0
        while True:
            invite = self._invite = self._build_invite(cseq, credentials)
            transaction = await self._endpoint.request(invite, self._dest)
            response = await self._final(transaction)
            if 200 <= response.status < 300:
                await self._established(invite, response)
                return
            if response.status in (401, 407) and self.options.auth is not None:
                challenges += 1
                credentials = self._answer_challenge(invite, response, challenges)
                cseq += 1
                continue
            raise CallRejected(response.status, response.reason)

    def _answer_challenge(
        self, invite: Request, response: Response, attempt: int
    ) -> tuple[str, str]:
        """The credentials header for a retry; refused credentials end the call."""
        assert self.options.auth is not None  # the caller checked
        proxy = response.status == 407
        value = response.headers.get("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        if value is None:
            raise CallRejected(response.status, f"{response.reason} (no digest challenge)")
        challenge = Challenge.parse(value)
        if attempt > 1 and not challenge.stale:
            raise CallRejected(response.status, f"{response.reason} (credentials refused)")
        if attempt > 2:
            raise CallRejected(response.status, f"{response.reason} (challenged {attempt} times)")
        header = authorization(
            challenge,
            self.options.auth,
            method="INVITE",
            uri=invite.uri,
            cnonce=secrets.token_hex(8),
        )
        return ("Proxy-Authorization" if proxy else "Authorization", header)

    async def _final(self, transaction: ClientTransaction) -> Response:
        while (response := await transaction.response()).status < 200:
            self.progress.append(Progress(response.status, response.reason, self.clock.now()))
            self._provisional.set()
        return response

    async def _established(self, invite: Request, response: Response) -> None:
        media = self._require_media()
        dialog = self._dialog = Dialog.from_answer(invite, response)
        self._ack = dialog.ack(invite, self._endpoint.via(new_branch()))
        self._dialog_dest = await self._resolve(dialog.next_hop)
        await self._endpoint.send(self._ack, self._dialog_dest)
        try:
            answer = sdp.parse_answer(response.body.decode("utf-8"))
        except (SipError, UnicodeDecodeError) as exc:
            sent = await self._send_bye()
            raise CallFailed(f"unusable SDP answer ({exc}); {sent}") from exc
        media.start((answer.address, answer.port), answer.audio_pt, answer.telephone_event_pt)
        self.answer.set_result(
            Answered(
                response.status, response.reason, self.clock.now(), answer, response.body.decode()
            )
        )
        if self._cancelling:  # the 2xx crossed our CANCEL: the call exists, so end it
            self._spawn(self.hang_up())

    # --- requests from the far end -----------------------------------------------------

    def _on_stray_response(self, response: Response) -> None:
        """A 2xx retransmitted after its ACK was lost: send the same ACK again (§13.2.2.4)."""
        cseq = response.cseq
        dialog, ack, dest = self._dialog, self._ack, self._dialog_dest
        if (
            cseq.method == "INVITE"
            and 200 <= response.status < 300
            and dialog is not None
            and ack is not None
            and dest is not None
            and response.call_id == dialog.call_id
            and response.to.tag == dialog.remote.tag
            and cseq.number == ack.cseq.number
        ):
            self._spawn(self._endpoint.send(ack, dest))
        else:
            logger.debug("stray %s %s dropped", response.status, cseq)

    def _respond(
        self,
        request: Request,
        reply: Reply,
        status: int,
        reason: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        response = response_to(
            request,
            status,
            reason,
            to_tag=self._local.tag,
            headers=(("Server", self.options.user_agent), *headers),
        )
        self._endpoint.respond(request, response, reply)

    def _on_request(self, request: Request, reply: Reply) -> None:
        now = self.clock.now()
        self.requests.append(ReceivedRequest(request.method, now, request))
        method = request.method
        if method == "ACK":
            return  # for a non-2xx we sent; nothing to do
        dialog = self._dialog
        if dialog is None or not dialog.owns(request):
            if method == "OPTIONS":
                self._respond(request, reply, 200, "OK", (("Allow", ALLOW),))
            elif method == "CANCEL" or request.to.tag is not None:
                self._respond(request, reply, 481, "Call/Transaction Does Not Exist")
            else:  # a new call or subscription: this user agent only places calls
                self._respond(request, reply, 405, "Method Not Allowed", (("Allow", ALLOW),))
            return
        if not dialog.accept_cseq(request.cseq.number):
            self._respond(request, reply, 500, "CSeq Out of Order")
        elif method == "BYE":
            self._respond(request, reply, 200, "OK")
            if not self.bye_received.done():
                self.bye_received.set_result(now)
            self._end(Ending.BYE_RECEIVED, "the far end sent BYE")
        elif method == "REFER":
            self._on_refer(request, reply, now)
        elif method == "OPTIONS":
            self._respond(
                request, reply, 200, "OK", (("Allow", ALLOW), ("Accept", "application/sdp"))
            )
        else:
            self._respond(request, reply, 405, "Method Not Allowed", (("Allow", ALLOW),))

    def _on_refer(self, request: Request, reply: Reply, now: float) -> None:
        refer_to = request.headers.get("Refer-To")
        if refer_to is None:
            self._respond(request, reply, 400, "Missing Refer-To")
            return
        self._respond(request, reply, 202, "Accepted")
        refer = Refer(refer_to, request.headers.get("Referred-By"), now)
        self.refers.append(refer)
        if not self.refer_received.done():
            self.refer_received.set_result(refer)
        self._spawn(self._notify(request))

    async def _notify(self, refer: Request) -> None:
        """Report the transfer's outcome (RFC 3515 §2.4.5) and end the implicit subscription."""
        dialog, dest = self._dialog, self._dialog_dest
        assert dialog is not None and dest is not None  # REFER is only accepted in the dialog
        notify = dialog.request(
            "NOTIFY",
            self._endpoint.via(new_branch()),
            headers=(
                ("Event", f"refer;id={refer.cseq.number}"),
                ("Subscription-State", "terminated;reason=noresource"),
                ("Contact", self._endpoint.contact(self.options.from_number)),
                ("User-Agent", self.options.user_agent),
                ("Content-Type", "message/sipfrag;version=2.0"),
            ),
            body=(self.options.transfer_sipfrag + "\r\n").encode(),
        )
        try:
            transaction = await self._endpoint.request(notify, dest)
            final = await transaction.final()
        except (SipTimeout, OSError) as exc:
            if not self.transfer_notified.done():
                self.transfer_notified.set_exception(exc)
            return
        if not self.transfer_notified.done():
            self.transfer_notified.set_result(final.status)

    # --- media -------------------------------------------------------------------------

    def _require_media(self) -> RtpSession:
        if self._media is None:
            raise CallStateError("the call has not been started")
        return self._media

    def _outbox(self) -> Outbox:
        if self.ended.done():
            raise CallStateError(f"the call has ended ({self.ended.result().how.value})")
        outbox = self._require_media().outbox
        if outbox is None:
            raise CallStateError("the call is not answered yet")
        return outbox

    async def play(self, pcm: npt.NDArray[np.int16], rate: int = RATE) -> SendReport:
        """Speak ``pcm`` (mono int16 at ``rate``); returns when its last packet is sent."""
        samples = np.asarray(pcm)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"play() takes mono int16 PCM, not {samples.dtype} {samples.shape}")
        if rate != RATE:
            samples = resample(samples, rate, RATE)
        ulaw = g711.encode(samples)
        ulaw += bytes([g711.ULAW_SILENCE]) * (-len(ulaw) % SAMPLES_PER_TICK)
        steps: list[Step] = [
            ulaw[i : i + SAMPLES_PER_TICK] for i in range(0, len(ulaw), SAMPLES_PER_TICK)
        ]
        return await self._outbox().queue(steps)

    async def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 100) -> SendReport:
        """Press keys (RFC 4733), each held ``duration_ms`` then released for ``gap_ms``."""
        if not digits:
            raise ValueError("no digits to send")
        for digit in digits:
            event_code(digit)
        if duration_ms < TICK_MS or duration_ms % TICK_MS or gap_ms < 0 or gap_ms % TICK_MS:
            raise ValueError(f"durations are whole {TICK_MS} ms ticks (key press at least one)")
        steps: list[Step] = []
        for digit in digits:
            steps.extend(event_ticks(digit, duration_ms // TICK_MS, SAMPLES_PER_TICK))
            steps.extend([SILENCE] * (gap_ms // TICK_MS))
        return await self._outbox().queue(steps)

    def heard(self) -> Heard:
        """Everything received over RTP so far."""
        return self._require_media().recording.heard()

    @property
    def local_rtp(self) -> Address:
        return self.options.local_host, self._require_media().local_port

    @property
    def local_sip(self) -> Address:
        return self.options.local_host, self._endpoint.port

    @property
    def media_stats(self) -> PacerStats:
        return self._require_media().stats

    @property
    def malformed(self) -> int:
        """SIP messages received that could not be parsed (and were dropped)."""
        return self._endpoint.transport.malformed

    # --- ending ------------------------------------------------------------------------

    def _end(self, how: Ending, detail: str) -> None:
        if not self.ended.done():
            self.ended.set_result(Ended(how, self.clock.now(), detail))
        if self._media is not None:
            self._media.halt(detail)

    async def answered(self) -> Answered:
        """The 2xx; raises :class:`CallRejected` / :class:`CallFailed` / :class:`SipTimeout`."""
        return await asyncio.shield(self.answer)

    async def hang_up(self) -> Ended:
        """BYE when answered, CANCEL while ringing; returns how the call ended."""
        if not self.ended.done():
            if self._dialog is not None:
                await self.bye()
            else:
                await self.cancel()
        return await asyncio.shield(self.ended)

    async def bye(self) -> None:
        """End the answered call with BYE (RFC 3261 §15.1.1)."""
        dialog, dest = self._dialog, self._dialog_dest
        if dialog is None or dest is None:
            raise CallStateError("BYE needs an answered call (use cancel() while ringing)")
        if self.ended.done() or self._hanging_up:
            return
        self._end(Ending.BYE_SENT, await self._send_bye())

    async def _send_bye(self) -> str:
        """Send BYE and wait for its final response; says how that went."""
        dialog, dest = self._dialog, self._dialog_dest
        assert dialog is not None and dest is not None  # only called in an established dialog
        self._hanging_up = True
        self._require_media().halt("the caller hung up")
        request = dialog.request(
            "BYE",
            self._endpoint.via(new_branch()),
            headers=(("User-Agent", self.options.user_agent),),
        )
        try:
            transaction = await self._endpoint.request(request, dest)
            final = await transaction.final()
        except (SipTimeout, OSError) as exc:
            return f"BYE unanswered: {exc}"
        return f"BYE answered {final.status} {final.reason}"

    async def cancel(self) -> None:
        """Withdraw the INVITE while it rings (RFC 3261 §9.1); bounded by 64·T1."""
        if self.ended.done() or self._cancelling:
            return
        self._cancelling = True
        # CANCEL may only follow a provisional response; until then there is nothing to cancel
        provisional = asyncio.ensure_future(self._provisional.wait())
        either: set[asyncio.Future[Any]] = {provisional, self.answer}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        provisional.cancel()
        if self.answer.done():
            return  # answered (the call hangs itself up) or already failed
        invite, dest = self._invite, self._dest
        assert invite is not None and dest is not None  # a provisional answers a sent INVITE
        headers = Headers()
        headers.add("Via", invite.headers.get_all("Via")[0])
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            headers.add(name, invite.header(name))
        headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        request = Request(headers=headers, method="CANCEL", uri=invite.uri)
        timeout = self.options.timers.timeout
        try:
            transaction = await self._endpoint.request(request, dest)
            await transaction.final()
            await asyncio.wait_for(asyncio.shield(self.ended), timeout)
        except (SipTimeout, TimeoutError, OSError) as exc:
            self._end(Ending.CANCELLED, f"no final response to the cancelled INVITE: {exc}")

    async def _close(self) -> None:
        if not self.answer.done():  # hanging up was itself cancelled: nobody may wait forever
            self.answer.set_exception(CallStateError("the call was closed before an answer"))
        self._end(Ending.FAILED, "the call was closed")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._media is not None:
            await self._media.close()
        await self._endpoint.close()
