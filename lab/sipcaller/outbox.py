"""What the caller sends at each 20 ms tick: queued speech and key presses, else silence.

One first-in-first-out queue of jobs — a clip, a key press with the pause after it — so a test
that plays, then presses, then plays knows exactly what went out when. With nothing queued the
tick carries μ-law silence: livekit-sip hangs up after 15 s without RTP (30 s before the first),
and a caller whose microphone is open sends silence, not nothing.

Tick *n* carries one packet. Audio packets have RTP timestamp ``first_timestamp + 160·n``; a
key press takes the place of the audio for its ticks, and every packet of it carries the
timestamp of its first tick (RFC 4733 §2.5.1). Only the stream's first packet has the marker
bit (no silence suppression means one talkspurt), besides each event's first packet.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lab.sipcaller.dtmf import EventPacket
from lab.sipcaller.errors import CallStateError
from lab.sipcaller.rtp import RtpPacket
from sip import g711

SAMPLES_PER_TICK: Final = 160
SILENCE: Final = bytes([g711.ULAW_SILENCE]) * SAMPLES_PER_TICK

Step = bytes | EventPacket
"""One tick of a job: a μ-law frame or a telephone-event packet."""


@dataclass(frozen=True)
class SendReport:
    """When a job went out, in clock seconds: the lab's "caller spoke from … to …"."""

    first_sent: float
    last_sent: float
    """When the job's last packet was sent; its audio ends one tick (20 ms) later."""
    first_timestamp: int
    ticks: int


class _Job:
    def __init__(self, steps: Sequence[Step], done: asyncio.Future[SendReport]) -> None:
        self.steps = steps
        self.done = done
        self.next = 0
        self.first_sent = 0.0
        self.first_timestamp = 0


class Outbox:
    def __init__(
        self,
        *,
        ssrc: int,
        first_sequence: int,
        first_timestamp: int,
        audio_pt: int,
        event_pt: int | None,
    ) -> None:
        self.ssrc = ssrc
        self.audio_pt = audio_pt
        self.event_pt = event_pt
        self._sequence = first_sequence
        self._first_timestamp = first_timestamp
        self._jobs: deque[_Job] = deque()
        self._event_timestamp = 0
        self.packets_sent = 0
        self.closed = False

    def queue(self, steps: Sequence[Step]) -> asyncio.Future[SendReport]:
        """Send ``steps`` after everything queued before; the future resolves after the last."""
        if self.closed:
            raise CallStateError("the call's media has stopped")
        if not steps:
            raise ValueError("nothing to send")
        if self.event_pt is None and any(not isinstance(s, bytes) for s in steps):
            raise CallStateError("the far end did not accept telephone-event: no DTMF possible")
        for step in steps:
            if isinstance(step, bytes) and len(step) != SAMPLES_PER_TICK:
                raise ValueError(
                    f"an audio step is {SAMPLES_PER_TICK} μ-law bytes, not {len(step)}"
                )
        done: asyncio.Future[SendReport] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(steps, done))
        return done

    def tick(self, n: int, now: float) -> RtpPacket:
        """The packet for tick ``n`` (sent at ``now``)."""
        timestamp = (self._first_timestamp + SAMPLES_PER_TICK * n) & 0xFFFFFFFF
        job = self._jobs[0] if self._jobs else None
        step: Step = SILENCE
        if job is not None:
            if job.next == 0:
                job.first_sent, job.first_timestamp = now, timestamp
            step = job.steps[job.next]
            job.next += 1
            if job.next == len(job.steps):
                self._jobs.popleft()
                if not job.done.done():
                    job.done.set_result(
                        SendReport(job.first_sent, now, job.first_timestamp, len(job.steps))
                    )
        if isinstance(step, bytes):
            return self._packet(self.audio_pt, timestamp, step, self.packets_sent == 0)
        if step.marker:
            self._event_timestamp = timestamp
        assert self.event_pt is not None  # queue() refuses events without a payload type
        return self._packet(
            self.event_pt, self._event_timestamp, step.payload.encode(), step.marker
        )

    def _packet(self, pt: int, timestamp: int, payload: bytes, marker: bool) -> RtpPacket:
        packet = RtpPacket(
            payload_type=pt,
            sequence=self._sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self._sequence = (self._sequence + 1) & 0xFFFF
        self.packets_sent += 1
        return packet

    def close(self, reason: str) -> None:
        """Stop accepting jobs; whoever waits on an unsent one learns why."""
        self.closed = True
        while self._jobs:
            job = self._jobs.popleft()
            if not job.done.done():
                job.done.set_exception(CallStateError(f"not sent: {reason}"))
