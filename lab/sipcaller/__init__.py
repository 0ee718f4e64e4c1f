"""A SIP user agent that calls like Twilio's Elastic SIP trunk, for tests and the lab.

It places a call into a SIP gateway (livekit-sip in the real stack) the way a PSTN call arrives
through Twilio — INVITE with a PCMU + ``telephone-event`` offer, digest authentication,
20 ms μ-law RTP, RFC 4733 key presses — and records everything the far end does, stamped on
arrival: provisional responses, BYE, REFER, and the RTP it sends, decoded to PCM.

Why written here and not Debian's baresip: a measurement client needs to decide what goes on
the wire at which 20 ms tick (speech from a numpy array, key presses with exact durations,
silence so media timeouts never fire) and to see every received packet with its arrival time
and RTP header, from the test's own event loop. baresip would be driven through its control
socket, plays and records WAV files through its audio modules with their own buffering and
resampling, and reports DTMF and transfers as log events — timing and bytes would be
baresip's, not the test's. This one is a few small modules over asyncio, each written to its
RFC: messages and addresses (RFC 3261 §7, §19, §20), transactions with Timer A/B/E/F, the
dialog with its route set, digest (RFC 2617/7616), SDP offer/answer (RFC 4566/3264), RTP
(RFC 3550) on a drift-free clock, telephone events (RFC 4733), transfer NOTIFY (RFC 3515).

Scope, on purpose: UDP and TCP, no TLS/SRTP (a carrier trunk into livekit-sip on a private
address uses neither); one dialog (no forking); loose routing only; no RTCP (livekit-sip does
not need the caller's reports; the lab measures from arrival times); hostnames resolved by
A/AAAA only (no SRV/NAPTR).

Use::

    options = DialOptions(target="sip:+15550100@10.88.0.1:5060", from_number="+15550199",
                          local_host="10.88.0.1", auth=Credentials("user", "secret"))
    async with SipCall.dial(options) as call:
        await asyncio.wait_for(call.answered(), 30)
        await call.play(pcm)              # 8 kHz int16, or play(pcm, rate=...)
        await call.send_dtmf("5")
        heard = call.heard()              # packets with arrival times, heard.pcm()
        await call.bye()                  # or leave the block; call.bye_received,
                                          # call.refer_received, call.ended are futures
"""

from lab.sipcaller.call import (
    Answered,
    DialOptions,
    Ended,
    Ending,
    Progress,
    ReceivedRequest,
    Refer,
    SipCall,
)
from lab.sipcaller.digest import Credentials
from lab.sipcaller.dtmf import ReceivedDigit
from lab.sipcaller.errors import (
    CallFailed,
    CallRejected,
    CallStateError,
    SipError,
    SipParseError,
    SipTimeout,
)
from lab.sipcaller.outbox import SendReport
from lab.sipcaller.recording import Heard, ReceivedPacket
from lab.sipcaller.transaction import Timers

__all__ = [
    "Answered",
    "CallFailed",
    "CallRejected",
    "CallStateError",
    "Credentials",
    "DialOptions",
    "Ended",
    "Ending",
    "Heard",
    "Progress",
    "ReceivedDigit",
    "ReceivedPacket",
    "ReceivedRequest",
    "Refer",
    "SendReport",
    "SipCall",
    "SipError",
    "SipParseError",
    "SipTimeout",
    "Timers",
]
