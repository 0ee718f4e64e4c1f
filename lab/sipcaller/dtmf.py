"""RFC 4733 telephone events: key presses as RTP payloads, sent and received.

Sending follows §2.5.1: every packet of one event carries the event's start timestamp; the
first has the marker bit (livekit-sip recognises a new digit by it); each 20 ms packet grows
the duration; the final packet has the E bit and is sent three times in all, one packet interval
apart, with the same duration, so a lost end packet does not leave the key pressed. Receiving
(§2.5.2) tells events apart by timestamp, so the end packets and any retransmission count as
one key press.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Final

from lab.sipcaller.errors import SipParseError

#: Event codes 0-15 (RFC 4733 §3.2): DTMF digits, then '*', '#', 'A'-'D'.
DIGITS: Final = "0123456789*#ABCD"
END_REPEATS: Final = 3
#: −10 dBm0, a normal keypad level (the field is the power below 0 dBm0).
DEFAULT_VOLUME: Final = 10
_PAYLOAD: Final = struct.Struct("!BBH")


def event_code(digit: str) -> int:
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"{digit!r} is not a DTMF digit (one of {DIGITS})")
    return code


@dataclass(frozen=True)
class EventPayload:
    """The 4-byte telephone-event payload."""

    event: int
    end: bool
    volume: int
    duration: int
    """In timestamp units (1/8000 s) since the event's start."""

    def encode(self) -> bytes:
        if not 0 <= self.event < 256 or not 0 <= self.volume < 64:
            raise ValueError(f"event {self.event} / volume {self.volume} out of range")
        if not 0 <= self.duration < 65536:
            raise ValueError(f"event duration {self.duration} does not fit 16 bits")
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @classmethod
    def decode(cls, payload: bytes) -> EventPayload:
        if len(payload) < _PAYLOAD.size:
            raise SipParseError(f"telephone-event payload of {len(payload)} bytes (needs 4)")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


@dataclass(frozen=True)
class EventPacket:
    """One packet of an outgoing event: its payload and whether it carries the marker."""

    payload: EventPayload
    marker: bool


def event_ticks(
    digit: str, ticks: int, samples_per_tick: int, volume: int = DEFAULT_VOLUME
) -> list[EventPacket]:
    """One packet per tick for a key press held ``ticks`` ticks, end repeats included."""
    if ticks < 1:
        raise ValueError("a key press lasts at least one packet interval")
    code = event_code(digit)
    packets = [
        EventPacket(
            EventPayload(
                code, end=i == ticks - 1, volume=volume, duration=samples_per_tick * (i + 1)
            ),
            marker=i == 0,
        )
        for i in range(ticks)
    ]
    final = EventPacket(packets[-1].payload, marker=False)
    return packets + [final] * (END_REPEATS - 1)


@dataclass(frozen=True)
class ReceivedDigit:
    digit: str | None
    """None for an event code outside 0-15 (flash, tones)."""
    event: int
    timestamp: int
    started: float
    """Arrival (clock seconds) of the event's first packet."""
    ended: float | None
    """Arrival of its first end packet; None if the end never came."""
    duration: int
    """Largest duration seen, in timestamp units."""
    marker: bool
    """Whether the first packet seen had the marker bit (RFC 4733 requires it)."""


class EventReceiver:
    """Turns received telephone-event packets into one record per key press."""

    def __init__(self) -> None:
        self._digits: list[ReceivedDigit] = []
        self._key: tuple[int, int] | None = None

    def feed(self, ssrc: int, timestamp: int, marker: bool, payload: bytes, arrival: float) -> None:
        event = EventPayload.decode(payload)
        key = (ssrc, timestamp)
        if key != self._key:
            self._key = key
            self._digits.append(
                ReceivedDigit(
                    digit=event.digit,
                    event=event.event,
                    timestamp=timestamp,
                    started=arrival,
                    ended=arrival if event.end else None,
                    duration=event.duration,
                    marker=marker,
                )
            )
            return
        last = self._digits[-1]
        self._digits[-1] = replace(
            last,
            ended=arrival if last.ended is None and event.end else last.ended,
            duration=max(last.duration, event.duration),
        )

    @property
    def digits(self) -> tuple[ReceivedDigit, ...]:
        return tuple(self._digits)
