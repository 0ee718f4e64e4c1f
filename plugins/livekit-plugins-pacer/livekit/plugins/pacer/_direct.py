"""Leaf outputs the pacer drives straight from its tick.

A :class:`DirectAudioOutput` is an ``io.AudioOutput`` leaf that is also a :class:`PacedSink`
(a telephony socket writer, say). Under :class:`PacedAudioOutput` it gets each frame inside the
tick that releases it: no task hop and no coroutine between the pacer's deadline and the leaf,
so a busy event loop cannot delay or bunch frames the pacer released on time. It still reports
playback through the ordinary ``io.AudioOutput`` events, which the pacer maps back into the
model's time as for any leaf; and a bare :class:`PacedStream` can drive the same class.

livekit-agents counts a playback segment in the base ``capture_frame``, a coroutine the direct
path never runs; whatever is driven synchronously counts its segments with
:func:`count_segment` (a direct leaf: :meth:`DirectAudioOutput.begin_segment`), or its
``playback_finished`` is dropped as one too many.
"""

from __future__ import annotations

from abc import abstractmethod

from livekit import rtc
from livekit.agents.voice import io
from livekit.agents.voice.io import _AudioSinkProxy

from ._stats import SegmentStats
from ._stream import PacedFrame

_NOTHING = rtc.AudioFrame(b"\x00\x00", 8000, 1, 1)
"""The base ``capture_frame`` only counts; it never looks at the frame."""


def count_segment(output: io.AudioOutput) -> None:
    """Count a playback segment in ``output``'s own bookkeeping, as a first ``capture_frame``
    would (nothing while its segment is open, i.e. until the base ``flush()``)."""
    step = io.AudioOutput.capture_frame(output, _NOTHING)
    try:
        step.send(None)
    except StopIteration:
        return
    step.close()
    raise RuntimeError("io.AudioOutput.capture_frame suspended: it is expected only to count")


class DirectAudioOutput(io.AudioOutput):
    """A leaf output that takes paced frames synchronously (a :class:`PacedSink`).

    Driven by :class:`PacedAudioOutput`: ``on_segment_start`` before a segment's first frame,
    ``on_frame`` per frame, and the segment ends with ``flush()`` or ``clear_buffer()`` as for
    any ``io.AudioOutput``. Driven by a bare :class:`PacedStream`: ``on_segment_end`` ends it.
    Either way ``on_segment_start`` must call :meth:`begin_segment`, so each segment gets
    exactly one ``playback_finished``. Its methods run inside the tick that
    serves every stream in the process: they must not block (write to a queue or a socket
    buffer). The swap proxy above it does not see these frames, so swapping the leaf in the
    middle of a segment is not supported.
    """

    def begin_segment(self) -> None:
        """Count the segment that starts now, as livekit-agents' ``capture_frame`` would."""
        count_segment(self)

    @abstractmethod
    def on_segment_start(self, segment: SegmentStats) -> None: ...

    @abstractmethod
    def on_frame(self, frame: PacedFrame) -> None: ...

    @abstractmethod
    def on_segment_end(self, segment: SegmentStats) -> None: ...


def direct_leaf(inner: io.AudioOutput | None) -> DirectAudioOutput | None:
    """``inner`` itself if it takes paced frames, or the leaf behind livekit-agents' swap
    proxy (which only forwards); never a leaf behind a decorator that would be bypassed."""
    node = inner.next_in_chain if isinstance(inner, _AudioSinkProxy) else inner
    return node if isinstance(node, DirectAudioOutput) else None
