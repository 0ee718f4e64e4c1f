"""The SIP leg of a one-number split, placed as Twilio places a ``<Dial><Sip>``.

When the sidecar's webhook sends a call down the ``sip`` path, Twilio does not stream it: it
dials LiveKit's SIP URI with the trunk's digest credentials and the ``X-`` headers of the URI,
and when that leg ends it reports ``DialCallStatus`` to the ``action`` URL. The Twilio caller
simulator (:class:`lab.caller.call.SimulatedCaller`) follows the webhook up to that point and
hands the leg to a :class:`~lab.caller.call.SipDialer`; this is the one that places it for real,
with the lab's SIP user agent (:mod:`lab.sipcaller`) — so a split is tested end to end through
livekit-sip, the room and the worker, and the caller's side of the sip leg is measured like any
other call (greeting, turns, latency, barge-in, what was heard).

Why it lives in the lab: the caller simulator is part of the product's ``trunkline call``, which
must not carry a SIP stack; the lab already has one, and imports downwards into ``lab.caller``.

Status as Twilio reports it: ``completed`` once the leg was answered (whoever hung up),
``busy`` for 486/600, ``no-answer`` when nobody answered in time (or 408/480), ``canceled``
for 487, ``failed`` for anything else.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from lab.caller.call import CallerOptions, SipDialOutcome
from lab.caller.results import BargeIn, CallResult, TurnResult, cadence_stats
from lab.caller.twiml import SipDial
from lab.conversation import CallerScript, CallerTurn, Conversation, converse
from lab.sip_runner import PACKET_S, RATE, SipLine, missed_playout
from lab.sipcaller import CallRejected, Credentials, DialOptions, Heard, SipCall, SipError
from lab.sipcaller.address import SipUri
from sip import g711

#: how long Twilio lets a ``<Dial>`` ring by default (its ``timeout`` attribute)
ANSWER_TIMEOUT_S: Final = 30.0

_BUSY: Final = frozenset({486, 600})
_NO_ANSWER: Final = frozenset({408, 480})
_CANCELED: Final = frozenset({487})


def dial_status(status: int) -> str:
    """``DialCallStatus`` for a leg the far end refused with SIP ``status``."""
    if status in _BUSY:
        return "busy"
    if status in _NO_ANSWER:
        return "no-answer"
    if status in _CANCELED:
        return "canceled"
    return "failed"


def dial_options(dial: SipDial, from_number: str, local_host: str) -> DialOptions:
    """The INVITE Twilio would send for ``dial``: its URI (transport from ``;transport=``),
    its digest credentials and its ``X-`` headers, from the caller's number."""
    uri = SipUri.parse(dial.uri)
    transport: Literal["udp", "tcp"] = (
        "tcp" if (uri.param("transport") or "").lower() == "tcp" else "udp"
    )
    auth = (
        Credentials(dial.username, dial.password)
        if dial.username is not None and dial.password is not None
        else None
    )
    return DialOptions(
        target=dial.uri,
        from_number=from_number,
        local_host=local_host,
        transport=transport,
        auth=auth,
        headers=tuple(dial.headers.items()),
    )


def caller_script(options: CallerOptions) -> CallerScript:
    """The Twilio caller's behaviour (its μ-law clips decoded), for the SIP leg."""
    return CallerScript(
        clips=[g711.decode(b"".join(frames)) for frames in options.speech],
        clip_rate=RATE,
        turns=options.turns,
        barge_in_turns=options.barge_in_turns,
        barge_after_ms=options.barge_after_ms,
        quiet_ms=options.quiet_ms,
        greeting_timeout_s=options.greeting_timeout_s,
        reply_timeout_s=options.reply_timeout_s,
        linger_s=options.linger_s,
    )


def _turn(conv: Conversation, turn: CallerTurn, heard: Heard) -> TurnResult:
    reply = turn.reply
    gaps, gap_ms = (0, 0.0)
    if reply.first is not None and reply.last is not None:
        gaps, gap_ms = missed_playout(heard, reply.first, reply.last)
    latency = turn.latency_s
    barge = (
        None
        if turn.barge_start is None
        else BargeIn(conv.epoch(turn.barge_start), None, turn.cutoff_ms)
    )
    return TurnResult(
        turn=turn.turn,
        speech_start=conv.epoch(turn.speech_start),
        speech_end=conv.epoch(turn.speech_end),
        first_audio_received=conv.epoch(reply.first),
        # recorded by RTP timestamp: heard as it arrived, less what a phone's buffer drops
        first_audio_heard=conv.epoch(reply.first),
        reply_end=None if reply.last is None else conv.epoch(reply.last + PACKET_S),
        latency_ms=None if latency is None else 1000 * latency,
        heard_ms=1000 * reply.samples / RATE,
        gaps=gaps,
        gap_ms=gap_ms,
        barge_in=barge,
    )


def call_result(
    call_sid: str, conv: Conversation, heard: Heard, started: float, hung_up_by: str
) -> CallResult:
    """What the caller measured on the SIP leg, in the Twilio caller's own terms (no marks or
    clears on SIP: the gateway's media path has none)."""
    turns = [_turn(conv, t, heard) for t in conv.turns]
    greeting = next((t for t in turns if t.turn == 0), None)
    arrivals = [p.arrival + conv.epoch_offset for p in heard.packets]
    return CallResult(
        call_sid=call_sid,
        started_at=started,
        duration_s=time.time() - started,
        greeting=greeting,
        turns=[t for t in turns if t.turn != 0],
        cadence=cadence_stats(arrivals, []),
        marks_acked=0,
        clears=0,
        hung_up_by=hung_up_by,
        close_code=None,
        heard=heard.pcm() if heard.packets else np.zeros(0, np.int16),
    )


@dataclass
class SipLegDialer:
    """A :class:`~lab.caller.call.SipDialer` that places the leg with the lab's SIP caller,
    bound to ``local_host`` (an address the gateway reaches: livekit-sip ignores loopback)."""

    local_host: str
    answer_timeout_s: float = ANSWER_TIMEOUT_S

    async def dial(self, dial: SipDial, options: CallerOptions) -> SipDialOutcome:
        invite = dial_options(dial, options.from_number, self.local_host)
        started = time.time()
        try:
            async with SipCall.dial(invite) as call:
                try:
                    await asyncio.wait_for(call.answered(), self.answer_timeout_s)
                except TimeoutError:
                    return SipDialOutcome("no-answer")
                conv = await converse(SipLine(call), caller_script(options))
                by = "agent" if call.bye_received.done() else "caller"
                heard = call.heard()
        except CallRejected as exc:
            return SipDialOutcome(dial_status(exc.status))
        except (SipError, OSError):
            return SipDialOutcome("failed")
        return SipDialOutcome("completed", call_result(options.call_sid, conv, heard, started, by))
