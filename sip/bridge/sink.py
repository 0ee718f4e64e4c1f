"""Paced agent audio out to Twilio, with a mark pair per stretch.

The pacer hands over one 20 ms frame per deadline; each goes out as μ-law ``media``. A mark
follows the stretch's first frame and another its last: Twilio echoes a mark once the audio
before it has played, so the first echo says when the caller *started hearing* the stretch
(echo time less one frame) and the second when they finished — measured at the caller's end of
Twilio's buffer, not guessed from when we sent. On ``clear`` Twilio echoes every pending mark at
once; those echoes are not playback and are ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from livekit.plugins.pacer import PacedFrame, SegmentStats

from sip import g711
from sip.sidecar.link import TwilioLink

logger = logging.getLogger(__name__)

MARK_PREFIX = "bridge"


@dataclass
class Stretch:
    """One stretch of agent speech as it went to the caller. Times are ``time.monotonic()``."""

    index: int
    segment: SegmentStats
    heard_at: float | None = None
    """When the caller started hearing it (from the first mark's echo)."""
    played_out_at: float | None = None
    """When its last frame had played (from the last mark's echo)."""
    interrupted: bool = False

    @property
    def transport_s(self) -> float | None:
        """Pacer's first frame → the caller hearing it: the link and Twilio's buffer."""
        first = self.segment.first_frame_at
        return None if first is None or self.heard_at is None else self.heard_at - first


class TwilioStretchSink:
    """A :class:`livekit.plugins.pacer.PacedSink` writing to one Twilio stream."""

    def __init__(
        self,
        link: TwilioLink,
        *,
        frame_s: float = 0.02,
        on_stretch: Callable[[Stretch], None] | None = None,
    ) -> None:
        self.link = link
        self.frame_s = frame_s
        self.clock: Callable[[], float] = time.monotonic
        """What it dates marks by: the clock of the pacer driving it (set by its owner)."""
        self.on_stretch = on_stretch
        self.stretches: list[Stretch] = []
        self._open: dict[int, Stretch] = {}
        """Stretches whose marks are still awaited."""
        self._first_frame_pending: Stretch | None = None
        link.add_mark_listener(self._on_mark)

    # --- PacedSink --------------------------------------------------------------------------

    def on_segment_start(self, segment: SegmentStats) -> None:
        stretch = Stretch(segment.index, segment)
        self.stretches.append(stretch)
        self._open[segment.index] = stretch
        self._first_frame_pending = stretch

    def on_frame(self, frame: PacedFrame) -> None:
        self.link.send_media(g711.encode(frame.pcm))
        stretch = self._first_frame_pending
        if stretch is not None and stretch.segment is frame.segment:
            self._first_frame_pending = None
            self.link.send_mark(f"{MARK_PREFIX}:{stretch.index}:start")

    def on_segment_end(self, segment: SegmentStats) -> None:
        stretch = self._open.get(segment.index)
        if stretch is None:
            return
        if segment.interrupted:
            self._close(stretch, interrupted=True)
        else:
            self.link.send_mark(f"{MARK_PREFIX}:{segment.index}:end")

    # --- marks ------------------------------------------------------------------------------

    def cleared(self) -> None:
        """Twilio is about to drop its buffer: no pending mark will mean playback any more."""
        for stretch in list(self._open.values()):
            self._close(stretch, interrupted=True)
        self._first_frame_pending = None

    def close(self) -> None:
        """The call is over: report what is still open as it stands."""
        for stretch in list(self._open.values()):
            self._close(stretch, interrupted=stretch.played_out_at is None)

    def _on_mark(self, name: str) -> None:
        prefix, _, rest = name.partition(":")
        index, _, where = rest.partition(":")
        if prefix != MARK_PREFIX or not index.isdigit():
            return
        stretch = self._open.get(int(index))
        if stretch is None:
            return  # echoed because of our clear, or after the call's end
        now = self.clock()
        if where == "start":
            stretch.heard_at = now - self.frame_s
        elif where == "end":
            stretch.played_out_at = now
            self._close(stretch, interrupted=False)
        else:
            logger.warning("call %s: unexpected mark %r", self.link.call_id, name)

    def _close(self, stretch: Stretch, *, interrupted: bool) -> None:
        del self._open[stretch.index]
        stretch.interrupted = interrupted
        if self.on_stretch is not None:
            self.on_stretch(stretch)
