"""Everything the caller received over RTP, stamped on arrival, and the audio it adds up to.

Each audio packet is kept as it arrived (clock time, SSRC, sequence, timestamp, marker, μ-law
payload), so the lab can measure from the caller's side of the wire: when the first reply audio
arrived (latency), how evenly packets came (cadence), what is missing (gaps). :meth:`Heard.pcm`
lays the audio out by RTP timestamp — the sender's own media clock, as a jitter buffer deep
enough for any delay would play it — with digital silence where nothing arrived, which is what
:mod:`lab.gaps` reads as an underrun. A new SSRC (the far end restarted its stream) starts where
its first packet arrived in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from lab.sipcaller.dtmf import EventReceiver, ReceivedDigit
from lab.sipcaller.rtp import RtpPacket
from sip import g711

RATE: Final = 8000


@dataclass(frozen=True)
class ReceivedPacket:
    arrival: float
    """Clock seconds when the datagram was read (``time.monotonic`` on the real clock)."""
    ssrc: int
    sequence: int
    timestamp: int
    marker: bool
    payload: bytes


class _Unwrap:
    """Extends a wrapping counter (16-bit sequence, 32-bit timestamp) to an unbounded one."""

    def __init__(self, bits: int) -> None:
        self._modulus = 1 << bits
        self._highest: int | None = None

    def __call__(self, value: int) -> int:
        if self._highest is None:
            self._highest = value
            return value
        delta = (value - self._highest) % self._modulus
        if delta >= self._modulus // 2:
            delta -= self._modulus  # an older packet, arriving late
        extended = self._highest + delta
        self._highest = max(self._highest, extended)
        return extended


@dataclass(frozen=True)
class Heard:
    """A snapshot of what the caller has received so far."""

    packets: tuple[ReceivedPacket, ...]
    """Audio packets in arrival order, duplicates included."""
    digits: tuple[ReceivedDigit, ...]
    other_packets: int
    """RTP packets of payload types that are neither the audio nor telephone-event."""
    ignored: int
    """Datagrams on the RTP port that were RTCP or not RTP at all."""

    @property
    def first_arrival(self) -> float | None:
        return self.packets[0].arrival if self.packets else None

    @property
    def duplicates(self) -> int:
        """Packets received more than once (same SSRC and extended sequence number)."""
        seen: set[tuple[int, int]] = set()
        unwraps: dict[int, _Unwrap] = {}
        count = 0
        for p in self.packets:
            key = (p.ssrc, unwraps.setdefault(p.ssrc, _Unwrap(16))(p.sequence))
            count += key in seen
            seen.add(key)
        return count

    def positions(self) -> list[int]:
        """Where each packet's first sample lies in :meth:`pcm`."""
        if not self.packets:
            return []
        first = self.packets[0].arrival
        unwraps: dict[int, _Unwrap] = {}
        anchors: dict[int, tuple[int, int]] = {}
        positions: list[int] = []
        for p in self.packets:
            extended = unwraps.setdefault(p.ssrc, _Unwrap(32))(p.timestamp)
            if p.ssrc not in anchors:
                anchors[p.ssrc] = (extended, round((p.arrival - first) * RATE))
            start, offset = anchors[p.ssrc]
            positions.append(offset + extended - start)
        lowest = min(positions)  # a packet reordered ahead of the first one received
        return [position - lowest for position in positions]

    def pcm(self) -> npt.NDArray[np.int16]:
        """All audio as 8 kHz PCM16, laid out by RTP timestamp, zeros where nothing arrived."""
        positions = self.positions()
        if not positions:
            return np.zeros(0, dtype=np.int16)
        length = max(pos + len(p.payload) for pos, p in zip(positions, self.packets, strict=True))
        out = np.zeros(length, dtype=np.int16)
        for pos, p in zip(positions, self.packets, strict=True):
            out[pos : pos + len(p.payload)] = g711.decode(p.payload)
        return out


class Recording:
    """Sorts received RTP into audio, key presses and anything else."""

    def __init__(self, audio_pt: int, event_pt: int) -> None:
        self.audio_pt = audio_pt
        self.event_pt = event_pt
        self._packets: list[ReceivedPacket] = []
        self._events = EventReceiver()
        self._other = 0
        self._ignored = 0

    def add(self, packet: RtpPacket, arrival: float) -> None:
        if packet.payload_type == self.audio_pt:
            self._packets.append(
                ReceivedPacket(
                    arrival=arrival,
                    ssrc=packet.ssrc,
                    sequence=packet.sequence,
                    timestamp=packet.timestamp,
                    marker=packet.marker,
                    payload=packet.payload,
                )
            )
        elif packet.payload_type == self.event_pt:
            self._events.feed(packet.ssrc, packet.timestamp, packet.marker, packet.payload, arrival)
        else:
            self._other += 1

    def ignore(self) -> None:
        """Count a datagram that was not usable RTP."""
        self._ignored += 1

    def heard(self) -> Heard:
        return Heard(tuple(self._packets), self._events.digits, self._other, self._ignored)
