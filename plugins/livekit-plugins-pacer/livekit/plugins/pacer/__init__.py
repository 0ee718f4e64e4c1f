"""Drift-free pacing of bursty agent audio for LiveKit Agents.

Realtime models deliver audio in bursts; telephony and WebRTC want one small frame every 10 or
20 ms. The pacer meters the bursts onto one shared, drift-free clock, keeps model stalls from
becoming gaps (by a learned start hold, or by adaptive playout that starts early and plays a
thin queue slightly slower), keeps a bounded lead into sinks that buffer, counts every
underrun and every gap its own lateness caused, and reports exactly what was played.

- :class:`PacedAudioOutput` — an ``io.AudioOutput`` decorator:
  ``session.output.audio = pacer.PacedAudioOutput(session.output.audio)``.
- :class:`PacedStream` — the transport-agnostic core, for code that owns its own sink.
- :class:`DirectAudioOutput` — a leaf output that is also a :class:`PacedSink`: either of the
  above drives it synchronously from the tick (its ``begin_segment()`` keeps the segment count).
- :mod:`livekit.plugins.pacer.testing` — virtual time for tests.

Everything else lives in private modules.
"""

from livekit.agents import Plugin

from ._direct import DirectAudioOutput
from ._hold import AdaptiveHold
from ._output import PacedAudioOutput
from ._source_sink import AudioSourceSink
from ._stats import SegmentStats, StreamStats
from ._stream import PacedFrame, PacedSink, PacedStream, PacerClosedError
from ._stretch import Stretch
from .log import logger
from .version import __version__

__all__ = [
    "AdaptiveHold",
    "AudioSourceSink",
    "DirectAudioOutput",
    "PacedAudioOutput",
    "PacedFrame",
    "PacedSink",
    "PacedStream",
    "PacerClosedError",
    "SegmentStats",
    "StreamStats",
    "Stretch",
    "__version__",
]


class PacerPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


Plugin.register_plugin(PacerPlugin())
