"""The agent's room audio to the Twilio caller: subscribe at 8 kHz, gate, pace, send.

The worker already paces its output into the room, but what arrives here has crossed the SFU
and a jitter buffer: it comes in real time with the network's jitter. The bridge's own pacer
(``PacedStream``, 20 ms frames, a small lead into Twilio's buffer as in local mode) turns that
back into a drift-free cadence, so Twilio never runs dry mid-stretch and never gets a burst.

The pacer learns each stretch's hold from how the previous ones arrived. A smooth stretch
teaches it that no hold was needed, and the next one then starts with nothing in hand against
the network's jitter, so the hold has a floor (``min_hold_ms``).

The pacer's tick drives the same Twilio sink as local mode (``sip.sidecar.twilio_sink``): frames
and marks leave inside the tick, and the echoed marks date when the caller heard each stretch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.plugins.pacer import AdaptiveHold, PacedStream

from sip.bridge.contract import TWILIO_WS_PATH
from sip.bridge.gate import GateSettings, StretchGate, Verdict
from sip.sidecar.link import TwilioLink
from sip.sidecar.twilio_sink import PlayedSegment, TwilioSink
from sip.twilio.pacing import Pacing
from sip.twilio.protocol import SAMPLE_RATE
from trunkline import metrics

if TYPE_CHECKING:
    from livekit.plugins.pacer.testing import Ticker  # tests run the pacer on virtual time

logger = logging.getLogger(__name__)

#: Frames the subscription may hold if this process falls behind (then the oldest go).
STREAM_CAPACITY = 25


class AgentAudio:
    """Owns one call's outbound path: the track subscription, the gate, the pacer, the sink."""

    def __init__(
        self,
        link: TwilioLink,
        pacing: Pacing,
        gate: GateSettings | None = None,
        *,
        min_hold_ms: float = 60.0,
        ticker: Ticker | None = None,
    ) -> None:
        self.link = link
        self.call_id = link.call_id
        self.gate = StretchGate(SAMPLE_RATE, gate)
        self.sink = TwilioSink(link, on_played=self._log_stretch)
        self.pacer = PacedStream(
            self.sink,
            sample_rate=SAMPLE_RATE,
            frame_ms=pacing.frame_ms,
            prebuffer_ms=pacing.prebuffer_ms,
            lead_ms=pacing.lead_ms,
            adaptive_hold=AdaptiveHold(
                initial=pacing.prebuffer_ms / 1000,
                min_hold=min(min_hold_ms, pacing.prebuffer_ms) / 1000,
                adaptive=pacing.adaptive_hold,
            ),
            ticker=ticker,
        )
        self.sink.clock = self.pacer.clock.now  # its marks are dated on the pacer's clock
        self.frame_ms = pacing.frame_ms
        self.track_sid: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def stretches(self) -> list[PlayedSegment]:
        return self.sink.played

    def play(self, track: rtc.Track) -> None:
        """Forward ``track`` (the agent's audio) from now on, instead of any earlier one."""
        if track.sid == self.track_sid:
            return
        if self._task is not None:
            self._task.cancel()
        self.track_sid = track.sid
        self._task = asyncio.create_task(
            self._pump(track), name=f"bridge-agent-audio-{self.call_id}"
        )

    async def _pump(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream.from_track(
            track=track,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            frame_size_ms=self.frame_ms,
            capacity=STREAM_CAPACITY,
        )
        try:
            async for event in stream:
                self.feed(np.frombuffer(event.frame.data, dtype=np.int16))
        except Exception:
            logger.exception("call %s: agent audio stopped", self.call_id)
        finally:
            await stream.aclose()

    def feed(self, pcm: npt.NDArray[np.int16]) -> None:
        verdict = self.gate.feed(pcm)
        if verdict is Verdict.DROP:
            return
        self.pacer.push_nowait(pcm)
        if verdict is Verdict.FORWARD_AND_END:
            self.pacer.flush()

    def interrupt(self) -> None:
        """The agent was interrupted: nothing more of this reply reaches the caller."""
        self.gate.mute()
        self.pacer.clear()
        self.sink.cleared()
        self.link.send_clear()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pacer.aclose()
        self.sink.close()

    def _log_stretch(self, stretch: PlayedSegment) -> None:
        seg = stretch.segment
        assert seg is not None  # the pacer drives the sink: every segment has its stats
        metrics.PACER_UNDERRUNS.labels(TWILIO_WS_PATH, "bridge").inc(seg.underruns)
        metrics.PACER_SILENCE.labels(TWILIO_WS_PATH, "bridge").inc(seg.underrun_ms / 1000)
        metrics.PACER_LATE_GAPS.labels(TWILIO_WS_PATH, "bridge").inc(seg.late_gaps)
        metrics.PACER_LATE_GAP_SECONDS.labels(TWILIO_WS_PATH, "bridge").inc(seg.late_gap_ms / 1000)
        transport = stretch.transport_s
        logger.info(
            "call %s: agent stretch %d %s: %.0f ms sent, hold %.0f ms, "
            "first frame → heard %s, underruns %d, late gaps %d (%.0f ms)",
            self.call_id,
            stretch.index,
            "cut" if stretch.interrupted else "played",
            seg.emitted_duration * 1000,
            seg.hold * 1000,
            "—" if transport is None else f"{transport * 1000:.0f} ms",
            seg.underruns,
            seg.late_gaps,
            seg.late_gap_ms,
        )
