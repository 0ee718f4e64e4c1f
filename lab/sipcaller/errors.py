"""What can go wrong on a call, as exceptions a test can catch by kind.

Every failure the user agent can meet ends in one of these, each with a message that says what
was received or what was missing: a test that dials a broken peer fails with the reason, never
with a hang or a bare ``KeyError`` from deep inside a parser.
"""

from __future__ import annotations


class SipError(Exception):
    """Base of every error this package raises on purpose."""


class SipParseError(SipError, ValueError):
    """Bytes or a header value that are not what RFC 3261 (or 4566, 3550, 4733) allows."""


class SdpError(SipParseError):
    """An SDP answer this user agent cannot use (no PCMU, no address, not RTP/AVP)."""


class SipTimeout(SipError, TimeoutError):
    """A client transaction got no final response in time (RFC 3261 Timer B or F)."""


class DigestError(SipError):
    """A digest challenge this user agent cannot answer (algorithm or qop it does not do)."""


class CallStateError(SipError):
    """An operation the call's current state does not allow (playing audio before the answer)."""


class CallFailed(SipError):
    """The call could not be set up or its media could not be agreed."""


class CallRejected(CallFailed):
    """The far end answered the INVITE with a final non-2xx response."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"INVITE rejected: {status} {reason}")
        self.status = status
        self.reason = reason
