"""Agent audio out to one Twilio media stream, in local and bridge mode alike.

Frames come straight from the pacer's tick (``PacedAudioOutput`` in local mode, the bridge's
``PacedStream``) and leave at once as μ-law ``media``, each followed by a mark
``"<segment>:<samples sent so far>"``; a segment's end is the mark ``"<segment>:end"``. Twilio
echoes a mark once the audio before it has played, so the echoes are the caller's playback
position — measured at the caller's end of Twilio's buffer, not guessed from when we sent:
the first echo dates when the caller started hearing the segment, the end echo when they
finished. A barge-in's position is the last echo plus the time since it, up to the next mark:
the frame after an echoed mark starts playing as the echo leaves Twilio, and its own mark comes
back only once it has played, so the last echo alone would under-report what the caller heard by
up to a frame (and by two, when the next echo is on its way as the clear leaves). That is what
the realtime model truncates its context to. On ``clear`` Twilio echoes every pending mark at
once; those echoes are not playback, and are ignored: a clear closes the segments it cuts first.

The same object is an ``io.AudioOutput`` leaf: it reports each segment's playback (position in
its own samples; the pacer above maps them into the model's time) as one ``playback_finished``,
and without a pacer (pacing off) it sends whatever ``capture_frame`` is given.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents.voice import io
from livekit.plugins.pacer import DirectAudioOutput, PacedFrame, SegmentStats

from sip import g711
from sip.sidecar.link import TwilioLink
from sip.twilio.protocol import SAMPLE_RATE

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class PlayedSegment:
    """One segment of agent audio as it reached the caller.

    Times are on the sink's ``clock`` (``time.monotonic()`` unless its owner gives it the
    pacer's)."""

    index: int
    segment: SegmentStats | None
    """The pacer's account of it (None when no pacer drives the sink)."""
    sent_samples: int = 0
    played_samples: int = 0
    """Samples the caller has heard (from the last echoed mark; a cut adds the time since)."""
    echoed_at: float | None = None
    """When the last mark of it came back."""
    pending_marks: deque[int] = field(default_factory=deque)
    """Sample counts of the marks sent and not yet echoed, oldest first."""
    heard_at: float | None = None
    """When the caller started hearing it (the first echo less the audio before it)."""
    played_out_at: float | None = None
    """When its last sample had played (the end mark's echo)."""
    ended: bool = False
    """Its end mark was sent: nothing more of it will be."""
    interrupted: bool = False

    @property
    def transport_s(self) -> float | None:
        """Pacer's first frame → the caller hearing it: the link and Twilio's buffer."""
        first = self.segment.first_frame_at if self.segment is not None else None
        return None if first is None or self.heard_at is None else self.heard_at - first


class TwilioSink(DirectAudioOutput):
    """Sends agent audio to one Twilio stream; maps the echoed marks to what was played."""

    def __init__(
        self, link: TwilioLink, *, on_played: Callable[[PlayedSegment], None] | None = None
    ) -> None:
        super().__init__(
            label="twilio",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=SAMPLE_RATE,
        )
        self.link = link
        self.clock: Callable[[], float] = time.monotonic
        """What echoes are dated by: the clock of the pacer driving it (set by its owner)."""
        self.on_played = on_played
        """Called with each segment once its playback is known (played out, cut or closed)."""
        self.played: list[PlayedSegment] = []
        """Every segment of the call, in order."""
        self._open: dict[int, PlayedSegment] = {}
        """Segments whose playback is not known yet (marks still awaited)."""
        self._current: PlayedSegment | None = None
        """The segment frames go to (until its end)."""
        self._muted = False
        link.add_mark_listener(self._on_mark)

    def mute(self) -> None:
        """Send nothing more (the call is ending: an apology follows on the same stream).

        Playback is still reported — as interrupted, with what was heard so far — so a session
        waiting for it does not wait for ever."""
        self._muted = True
        for played in list(self._open.values()):
            self._close(played, interrupted=True)

    # --- driven by a pacer (PacedSink) ------------------------------------------------------

    def on_segment_start(self, segment: SegmentStats) -> None:
        self.begin_segment()
        self._begin(segment)

    def on_frame(self, frame: PacedFrame) -> None:
        self._send(frame.pcm)

    def on_segment_end(self, segment: SegmentStats) -> None:
        if not segment.interrupted:
            self.flush()
            return
        io.AudioOutput.flush(self)  # a cut segment is over too: the next one is counted anew
        current, self._current = self._current, None
        if current is not None:
            self._close(current, interrupted=True)

    # --- io.AudioOutput ---------------------------------------------------------------------

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if frame.sample_rate != SAMPLE_RATE or frame.num_channels != 1:
            raise ValueError(
                f"TwilioSink needs 8 kHz mono frames, got "
                f"{frame.sample_rate} Hz x{frame.num_channels}"
            )
        if self._current is None:
            self._begin(None)
        self._send(np.frombuffer(frame.data, dtype=np.int16))

    def flush(self) -> None:
        super().flush()
        current, self._current = self._current, None
        if current is None:
            return
        current.ended = True
        if self._muted:
            self._close(current, interrupted=True)
        else:
            self.link.send_mark(f"{current.index}:end")

    def clear_buffer(self) -> None:
        """Drop what Twilio holds (if it holds any of ours) and report it as cut."""
        io.AudioOutput.flush(self)
        self._current = None
        if self._open and not self._muted:
            self.link.send_clear()
        self.cleared()

    def cleared(self) -> None:
        """Twilio is about to drop its buffer: no pending mark will mean playback any more."""
        self._current = None
        for played in list(self._open.values()):
            self._close(played, interrupted=True)

    def close(self) -> None:
        """The call is over: report what is still open as it stands."""
        self.cleared()

    # --- marks ------------------------------------------------------------------------------

    def _begin(self, segment: SegmentStats | None) -> None:
        played = PlayedSegment(len(self.played) + 1, segment)
        self.played.append(played)
        self._open[played.index] = played
        self._current = played
        if self._muted:
            played.interrupted = True

    def _send(self, pcm: npt.NDArray[np.int16]) -> None:
        current = self._current
        if current is None or self._muted:
            return
        self.link.send_media(g711.encode(pcm))
        current.sent_samples += len(pcm)
        current.pending_marks.append(current.sent_samples)
        self.link.send_mark(f"{current.index}:{current.sent_samples}")

    def _on_mark(self, name: str) -> None:
        index, _, where = name.partition(":")
        played = self._open.get(int(index)) if index.isdigit() else None
        if played is None or self._muted:
            return  # another sender's mark, an older segment's, or echoed by our clear
        now = self.clock()
        if where == "end":
            played.played_samples = played.sent_samples
            played.played_out_at = now
            self._close(played, interrupted=False)
            return
        if not where.isdigit():
            logger.warning("call %s: unexpected mark %r", self.link.call_id, name)
            return
        samples = int(where)
        if played.heard_at is None:
            played.heard_at = now - samples / SAMPLE_RATE
            self.on_playback_started(created_at=time.time() - samples / SAMPLE_RATE)
        played.played_samples = max(played.played_samples, samples)
        played.echoed_at = now
        marks = played.pending_marks
        while marks and marks[0] <= samples:
            marks.popleft()

    def _playing_since_echo(self, played: PlayedSegment) -> int:
        """Samples of the frame after the last echoed mark that have played by now: it began
        as that echo left, and cannot have played past its own (unechoed) mark."""
        if played.echoed_at is None or not played.pending_marks:
            return 0
        elapsed = round(max(0.0, self.clock() - played.echoed_at) * SAMPLE_RATE)
        return min(elapsed, played.pending_marks[0] - played.played_samples)

    def _close(self, played: PlayedSegment, *, interrupted: bool) -> None:
        """Report a segment's playback, once (a muted one may still be taking frames)."""
        if self._open.pop(played.index, None) is None:
            return
        if interrupted:
            played.played_samples += self._playing_since_echo(played)
        played.interrupted = interrupted
        self.on_playback_finished(
            playback_position=played.played_samples / SAMPLE_RATE, interrupted=interrupted
        )
        if self.on_played is not None:
            self.on_played(played)
