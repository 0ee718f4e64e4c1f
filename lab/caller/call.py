"""A simulated Twilio caller: the real Media Streams protocol, driven like a person on a phone.

It does what Twilio does for one call — fetch TwiML from the webhook (following ``<Redirect>``
and, for a ``<Dial><Sip>``, handing the SIP leg to a :class:`SipDialer`), open the stream URL,
send ``connected``/``start`` and 20 ms μ-law media on a real-time clock, play what it receives
through a Twilio-like buffer (:class:`Playout`), echo marks when playback reaches them and honour
``clear`` — and what a caller does: wait for the greeting, speak a clip, listen to the reply,
optionally talk over it. Everything is timestamped where it happens, so response latency (end of
caller speech → first agent audio) is measured from the caller's side of the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlencode, urljoin

import aiohttp
import numpy as np
from twilio.request_validator import RequestValidator

from lab.caller.audio import LineNoise
from lab.caller.playout import Playout
from lab.caller.results import BargeIn, CallResult, TurnResult, cadence_stats
from lab.caller.twiml import Answer, Hangup, Redirect, SipDial, Stream, parse
from sip import g711
from sip.twilio import protocol as p
from sip.twilio.security import SIGNATURE_HEADER

logger = logging.getLogger(__name__)

FRAME_S = 0.02
FRAME_MS = 20
#: TwiML documents one call may go through before the simulator calls it a loop.
MAX_DOCUMENTS: Final = 10


class CallNotConnected(RuntimeError):
    """The webhook's TwiML ended the call without connecting it (an apology, a busy line)."""


@dataclass
class SipDialOutcome:
    status: str
    """As Twilio reports it in ``DialCallStatus``: completed, busy, no-answer, failed, …"""
    call: CallResult | None = None
    """What the caller measured on the SIP leg, when it was answered."""


class SipDialer(Protocol):
    """Places the SIP leg of a ``<Dial><Sip>`` as Twilio would, and says how it went: the
    INVITE to ``dial.uri`` with its headers, answering the digest challenge with its
    credentials, then the caller's side of the call (speech, listening, hang-up)."""

    async def dial(self, dial: SipDial, options: CallerOptions) -> SipDialOutcome: ...


class NoSipDialer:
    """What a caller without a SIP user agent does with a ``<Dial><Sip>``: says so."""

    async def dial(self, dial: SipDial, options: CallerOptions) -> SipDialOutcome:
        raise CallNotConnected(
            f"the webhook sent call {options.call_sid} down the sip path (<Dial><Sip> to "
            f"{dial.uri}), and this caller has no SIP dialer to place it with"
        )


@dataclass
class CallerOptions:
    url: str
    """The sidecar's public base URL (the webhook is ``<url>/twilio/voice``)."""
    speech: list[list[bytes]]
    """μ-law 20 ms frames of each clip; turn *i* speaks clip ``i % len(speech)``."""
    turns: int = 2
    barge_in_turns: frozenset[int] = frozenset()
    """Turns whose reply the caller talks over (the interruption is the next turn's speech)."""
    barge_after_ms: int = 1000
    quiet_ms: int = 800
    """Agent silence that ends a reply (and the greeting)."""
    reply_timeout_s: float = 20.0
    greeting_timeout_s: float = 20.0
    linger_s: float = 5.0
    """After the last reply, stay on the line this long for the agent to hang up first."""
    dtmf: str = ""
    """Digits pressed after the greeting, before the first turn."""
    auth_token: str | None = None
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    from_number: str = "+15550100001"
    to_number: str = "+15550100002"
    noise_dbfs: float = -60.0
    seed: int = 0
    path: str | None = None
    """Ask the webhook for a path (``?trunkline_path=``); None lets it choose."""


class Phase(enum.Enum):
    GREETING = "greeting"
    DTMF = "dtmf"
    SPEAKING = "speaking"
    LISTENING = "listening"
    DONE = "done"


@dataclass
class _Reply:
    """The agent's audio after some point, as the caller's playout saw it."""

    since: float
    first_received: float | None = None
    first_heard: float | None = None
    last_heard: float | None = None
    heard_bytes: int = 0
    gaps: int = 0
    gap_bytes: int = 0
    _dry_bytes: int = 0

    def heard(self, now: float, played: int) -> None:
        if played:
            if self.first_heard is None:
                self.first_heard = now - FRAME_S
            if self._dry_bytes:
                self.gaps += 1
                self.gap_bytes += self._dry_bytes
                self._dry_bytes = 0
            self.last_heard = now - FRAME_S + played / p.SAMPLE_RATE
            self.heard_bytes += played
        if self.first_heard is not None and played < p.FRAME_BYTES:
            self._dry_bytes += p.FRAME_BYTES - played

    def finished(self, now: float, quiet_s: float, buffered: int) -> bool:
        return self.last_heard is not None and buffered == 0 and now - self.last_heard >= quiet_s


class SimulatedCaller:
    def __init__(
        self,
        options: CallerOptions,
        session: aiohttp.ClientSession,
        sip_dialer: SipDialer | None = None,
    ) -> None:
        self.o = options
        self.http = session
        self.sip_dialer = sip_dialer or NoSipDialer()
        self.answers: list[Answer] = []
        """Every TwiML answer the call went through, in order."""
        self.sip_call: CallResult | None = None
        self.playout = Playout()
        self.noise = LineNoise(options.noise_dbfs, options.seed)
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.account_sid = "AC" + "0" * 32
        self._seq = 0
        #: digits pressed, sent by the tick loop ahead of its next media message
        self._pressed: list[str] = []
        self._chunk = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._arrivals: list[float] = []
        self._media: list[tuple[float, int]] = []
        self._arrival_depth_ms: list[float] = []
        self._heard: list[bytes] = []
        self._marks_acked = 0
        self._clears: list[float] = []
        self._hung_up_by: str | None = None
        self._close_code: int | None = None
        self._reply: _Reply | None = None
        self.turns: list[TurnResult] = []
        self._open_turn: tuple[int, float, float, _Reply] | None = None
        self.greeting: TurnResult | None = None
        self._epoch_offset = time.time() - time.monotonic()
        self._started_at = time.time()

    # --- signalling ----------------------------------------------------------------------

    def _signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if not self.o.auth_token:
            return {}
        sig = RequestValidator(self.o.auth_token).compute_signature(url, params)
        return {SIGNATURE_HEADER: sig}

    async def _webhook(self, url: str, extra: dict[str, str]) -> Answer:
        """POST a voice webhook like Twilio (the first with the call ringing, later ones with
        it in progress, plus ``extra``, e.g. ``DialCallStatus``); returns what it answered."""
        form = {
            "CallSid": self.o.call_sid,
            "AccountSid": self.account_sid,
            "From": self.o.from_number,
            "To": self.o.to_number,
            "CallStatus": "in-progress" if self.answers else "ringing",
            "Direction": "inbound",
            **extra,
        }
        async with self.http.post(url, data=form, headers=self._signed(url, form)) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise RuntimeError(f"webhook answered {resp.status}: {body[:200]}")
        answer = parse(body)
        self.answers.append(answer)
        return answer

    async def connect(self) -> Stream:
        """Follow the webhook's TwiML like Twilio until the call is streamed; a SIP leg goes to
        the dialer on the way. Raises :class:`CallNotConnected` when the call ends instead
        (:attr:`sip_call` then holds the SIP leg's result, if it was answered)."""
        url = self.o.url.rstrip("/") + "/twilio/voice"
        if self.o.path is not None:
            url += "?" + urlencode({"trunkline_path": self.o.path})
        extra: dict[str, str] = {}
        for _ in range(MAX_DOCUMENTS):
            answer = await self._webhook(url, extra)
            extra = {}
            if isinstance(answer, Stream):
                return answer
            if isinstance(answer, Redirect):
                url = urljoin(url, answer.url)
            elif isinstance(answer, SipDial):
                outcome = await self.sip_dialer.dial(answer, self.o)
                self.sip_call = outcome.call
                if answer.action is None:
                    raise CallNotConnected(f"the sip leg ended ({outcome.status})")
                url = urljoin(url, answer.action)
                extra = {"DialCallStatus": outcome.status}
            else:
                assert isinstance(answer, Hangup)
                raise CallNotConnected(answer.said or "the webhook hung up")
        raise CallNotConnected(f"{MAX_DOCUMENTS} TwiML documents and still no stream: a loop?")

    async def _send(self, kind: Callable[..., p.InboundMessage], *fields: object) -> None:
        """Send ``kind(sequence_number, *fields)`` with the next sequence number.

        Twilio numbers a stream's messages in the order it writes them, and the sidecar drops
        one that is not after the last (a duplicate or a late one). So the number is taken
        here, as the message is written: aiohttp writes a frame to the transport before its
        first ``await``, so the tick loop and the receiver (acknowledging marks) cannot put a
        later number on the wire before an earlier one. Taking a number and writing later (in
        another task) could; a lock instead would hold a mark's acknowledgement behind a tick's
        flow control, and the sidecar would hear of playback late.
        """
        assert self._ws is not None
        self._seq += 1
        await self._ws.send_str(p.serialize_inbound(kind(self._seq, *fields)))

    # --- the call ------------------------------------------------------------------------

    async def run(self) -> CallResult:
        """The whole call: its stream, or the SIP leg a dialer placed for it."""
        try:
            stream = await self.connect()
        except CallNotConnected:
            if self.sip_call is not None:  # answered on the sip path, then hung up
                return self.sip_call
            raise
        stream_url, params = stream.url, stream.parameters
        ws_headers = self._signed(stream_url, {})  # Twilio signs the URL it connects to
        started = time.monotonic()
        async with self.http.ws_connect(stream_url, headers=ws_headers, max_msg_size=0) as ws:
            self._ws = ws
            assert self._ws is not None
            await self._ws.send_str(p.serialize_inbound(p.Connected("Call", "1.0.0")))
            await self._send(
                p.Start, self.stream_sid, self.account_sid, self.o.call_sid, ("inbound",), params
            )
            receiver = asyncio.create_task(self._receive(ws))
            try:
                await self._tick_loop(ws)
            except (ConnectionError, aiohttp.ClientError):
                # the sidecar closed the stream while we were sending: the agent hung up
                await asyncio.wait_for(receiver, timeout=5)
            finally:
                if not ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await self._send(p.Stop, self.stream_sid, self.account_sid, self.o.call_sid)
                    self._hung_up_by = self._hung_up_by or "caller"
                    await ws.close()
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver
        return self._result(time.monotonic() - started)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            try:
                out = p.parse_outbound(msg.data)
            except p.ProtocolError as err:
                logger.warning("call %s: bad message from the sidecar: %s", self.o.call_sid, err)
                continue
            now = time.monotonic()
            if isinstance(out, p.OutMedia):
                self._arrivals.append(now)
                self._media.append((now + self._epoch_offset, len(out.payload)))
                self._arrival_depth_ms.append(self.playout.buffered_bytes / 8)
                self.playout.add_media(out.payload)
                if self._reply is not None and self._reply.first_received is None:
                    self._reply.first_received = now
            elif isinstance(out, p.OutMark):
                self.playout.add_mark(out.name)
            else:
                self._clears.append(now)
                for name in self.playout.clear():
                    await self._ack(name)
        if self._hung_up_by is None:
            self._hung_up_by = "agent"
            self._close_code = ws.close_code

    async def _ack(self, name: str) -> None:
        self._marks_acked += 1
        if self._ws is not None and not self._ws.closed:
            await self._send(p.Mark, self.stream_sid, name)

    async def _tick_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        t0 = time.monotonic()
        self._started_at = time.time()
        n = 0
        script = self._script()
        frame = next(script)
        while frame is not None and not ws.closed:
            deadline = t0 + n * FRAME_S
            delay = deadline - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:  # the process stalled: re-anchor, never send a burst
                t0, n = time.monotonic(), 0
            while self._pressed:
                await self._send(p.Dtmf, self.stream_sid, "inbound_track", self._pressed.pop(0))
            self._chunk += 1
            await self._send(
                p.Media,
                self.stream_sid,
                "inbound",
                self._chunk,
                (self._chunk - 1) * FRAME_MS,
                frame,
            )
            tick = self.playout.tick()
            self._heard.append(tick.audio)
            if self._reply is not None:
                self._reply.heard(time.monotonic(), tick.played_bytes)
            for name in tick.marks:
                await self._ack(name)
            n += 1
            frame = next(script)

    def _script(self) -> Generator[bytes | None, None, None]:
        """Yields the frame to send each tick (None ends the call); drives the phases."""
        o = self.o
        quiet = o.quiet_ms / 1000
        # greeting
        self._reply = _Reply(since=time.monotonic())
        deadline = self._reply.since + o.greeting_timeout_s
        while time.monotonic() < deadline and not self._reply.finished(
            time.monotonic(), quiet, self.playout.buffered_bytes
        ):
            yield self.noise.frame()
        self.greeting = self._turn_result(0, None, None, self._reply)
        for digit in o.dtmf:
            yield from self._press(digit)
        next_speech_start: float | None = None
        for turn in range(1, o.turns + 1):
            clip = o.speech[(turn - 1) % len(o.speech)]
            speech_start = next_speech_start or time.monotonic()
            barged = self._reply if next_speech_start is not None else None
            yield from clip
            speech_end = time.monotonic()
            if barged is not None:
                # the interrupted reply is complete only now: it went on until the clear
                self._close_turn(self._barge_result(speech_start, barged))
            reply = self._reply = _Reply(since=speech_end)
            self._open_turn = (turn, speech_start, speech_end, reply)
            next_speech_start = None
            barge = turn in o.barge_in_turns and turn < o.turns
            deadline = speech_end + o.reply_timeout_s
            while time.monotonic() < deadline:
                now = time.monotonic()
                if reply.finished(now, quiet, self.playout.buffered_bytes):
                    break
                if barge and reply.heard_bytes >= o.barge_after_ms * 8:
                    next_speech_start = now
                    break
                yield self.noise.frame()
            if next_speech_start is None:
                self._close_turn()
        linger_until = time.monotonic() + o.linger_s
        while time.monotonic() < linger_until:
            yield self.noise.frame()
        yield None

    def _close_turn(self, barge_in: BargeIn | None = None) -> None:
        """Record the turn being listened to (also when the agent hangs up during it)."""
        if self._open_turn is not None:
            result = self._turn_result(*self._open_turn)
            result.barge_in = barge_in
            self.turns.append(result)
            self._open_turn = None

    def _press(self, digit: str) -> Generator[bytes, None, None]:
        """Send a DTMF event (with the next tick, in sequence), then listen to the answer."""
        self._pressed.append(digit)
        reply = self._reply = _Reply(since=time.monotonic())
        deadline = reply.since + self.o.reply_timeout_s
        while time.monotonic() < deadline and not reply.finished(
            time.monotonic(), self.o.quiet_ms / 1000, self.playout.buffered_bytes
        ):
            yield self.noise.frame()

    def _barge_result(self, barge_start: float, reply: _Reply) -> BargeIn:
        clear = next((t for t in self._clears if t >= barge_start), None)
        last = reply.last_heard
        return BargeIn(
            started_at=self._epoch(barge_start),
            clear_after_ms=None if clear is None else (clear - barge_start) * 1000,
            cutoff_ms=None if last is None else max(0.0, (last - barge_start) * 1000),
        )

    def _epoch(self, mono: float | None) -> float | None:
        return None if mono is None else mono + self._epoch_offset

    def _turn_result(
        self, turn: int, speech_start: float | None, speech_end: float | None, reply: _Reply
    ) -> TurnResult:
        latency = (
            None
            if speech_end is None or reply.first_received is None
            else (reply.first_received - speech_end) * 1000
        )
        return TurnResult(
            turn=turn,
            speech_start=self._epoch(speech_start),
            speech_end=self._epoch(speech_end),
            first_audio_received=self._epoch(reply.first_received),
            first_audio_heard=self._epoch(reply.first_heard),
            reply_end=self._epoch(reply.last_heard),
            latency_ms=latency,
            heard_ms=reply.heard_bytes / 8,
            gaps=reply.gaps,
            gap_ms=reply.gap_bytes / 8,
        )

    def _result(self, duration_s: float) -> CallResult:
        self._close_turn()
        heard = g711.decode(b"".join(self._heard)) if self._heard else np.zeros(0, np.int16)
        return CallResult(
            call_sid=self.o.call_sid,
            started_at=self._started_at,
            duration_s=duration_s,
            greeting=self.greeting,
            turns=self.turns,
            cadence=cadence_stats(self._arrivals, self._arrival_depth_ms),
            media=self._media,
            marks_acked=self._marks_acked,
            clears=len(self._clears),
            hung_up_by=self._hung_up_by or "caller",
            close_code=self._close_code,
            heard=heard,
        )
