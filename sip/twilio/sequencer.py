"""Ordering rules of one Twilio media stream, applied to already-parsed messages.

Kept apart from parsing because these rules need state (has ``start`` arrived? which
``streamSid``? which sequence number came last?) and apart from I/O so every rule is testable
without a socket. The result of accepting a media message says how much audio is missing before
it (gaps in Twilio's ``timestamp``), so the caller's audio stays continuous for the model's VAD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sip.twilio.protocol import (
    SAMPLE_RATE,
    Connected,
    Dtmf,
    InboundMessage,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
)

#: Timestamp jitter below this is not a gap (Twilio's timestamps are whole milliseconds).
MIN_FILL_MS: Final = 10
#: Most silence inserted for one timestamp gap; a larger jump is logged, not filled.
MAX_FILL_MS: Final = 1000
#: Protocol errors tolerated on one stream before it is closed.
MAX_ERRORS: Final = 100


@dataclass
class SequencerStats:
    sequence_gaps: int = 0
    missing_messages: int = 0
    dropped: int = 0
    filled_ms: int = 0


@dataclass
class StreamSequencer:
    """State of one stream: feed it every parsed message in arrival order."""

    start: Start | None = None
    stopped: bool = False
    stats: SequencerStats = field(default_factory=SequencerStats)
    _connected: bool = False
    _last_seq: int | None = None
    _next_ts_ms: int | None = None
    _errors: int = 0

    def error(self, err: ProtocolError) -> ProtocolError:
        """Count an error; escalate to fatal when the stream keeps misbehaving."""
        self._errors += 1
        self.stats.dropped += 1
        if not err.fatal and self._errors > MAX_ERRORS:
            return ProtocolError(f"too many protocol errors ({self._errors})", fatal=True)
        return err

    def accept(self, msg: InboundMessage) -> int:
        """Validate ``msg`` in sequence; returns samples of silence to insert before it.

        Raises :class:`ProtocolError` (already counted) when the message must be dropped or,
        if ``fatal``, the stream closed.
        """
        try:
            return self._accept(msg)
        except ProtocolError as err:
            raise self.error(err) from None

    def _accept(self, msg: InboundMessage) -> int:
        if self.stopped:
            raise ProtocolError(f"{type(msg).__name__.lower()} after stop")
        if isinstance(msg, Connected):
            if self._connected or self.start is not None:
                raise ProtocolError("duplicate or late 'connected'")
            self._connected = True
            return 0
        if isinstance(msg, Start):
            if self.start is not None:
                raise ProtocolError("duplicate 'start'")
            self.start = msg
            self._last_seq = msg.sequence_number
            return 0
        if self.start is None:
            raise ProtocolError(f"'{type(msg).__name__.lower()}' before 'start'")
        if msg.stream_sid != self.start.stream_sid:
            raise ProtocolError(f"streamSid {msg.stream_sid[:40]!r} is not this stream's")
        self._check_sequence(msg.sequence_number)
        if isinstance(msg, Stop):
            self.stopped = True
            return 0
        if isinstance(msg, Media):
            return self._fill_before(msg)
        assert isinstance(msg, Dtmf | Mark)
        return 0

    def _check_sequence(self, seq: int) -> None:
        last = self._last_seq
        if last is not None and seq <= last:
            raise ProtocolError(f"sequenceNumber {seq} is not after {last} (duplicate or late)")
        if last is not None and seq > last + 1:
            self.stats.sequence_gaps += 1
            self.stats.missing_messages += seq - last - 1
        self._last_seq = seq

    def _fill_before(self, media: Media) -> int:
        duration_ms = len(media.payload) * 1000 // SAMPLE_RATE
        expected = self._next_ts_ms
        self._next_ts_ms = max(expected or 0, media.timestamp_ms) + duration_ms
        if expected is None or media.timestamp_ms <= expected:
            return 0
        gap_ms = media.timestamp_ms - expected
        if gap_ms < MIN_FILL_MS or gap_ms > MAX_FILL_MS:
            return 0
        self.stats.filled_ms += gap_ms
        return gap_ms * SAMPLE_RATE // 1000
