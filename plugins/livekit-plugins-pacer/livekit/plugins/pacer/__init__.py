"""Drift-free pacing of bursty agent audio for LiveKit Agents.

Realtime models deliver audio in bursts; telephony and WebRTC want one small frame every 10 or
20 ms. The pacer meters the bursts onto one shared, drift-free clock, keeps model stalls from
becoming gaps (by a learned start hold, or by adaptive playout that starts early and plays a
thin queue slightly slower), keeps a bounded lead into sinks that buffer, counts every
underrun and every gap its own lateness caused, and reports exactly what was played.

- :class:`PacedAudioOutput` — an ``io.AudioOutput`` decorator:
  ``session.output.audio = pacer.PacedAudioOutput(session.output.audio)``.
- :class:`PacedStream` — the transport-agnostic core, for code that owns its own sink.
"""

from livekit.agents import Plugin

from .clock import Clock, LoopClock, VirtualClock
from .hold import AdaptiveHold, needed_hold
from .log import logger
from .output import DEFAULT_STRETCH, ROOM_LEAD_MS, PacedAudioOutput, default_lead_ms
from .source_sink import AudioSourceSink
from .stats import SegmentStats, StreamStats
from .stream import PacedFrame, PacedSink, PacedStream, PacerClosedError
from .stretch import Stretch
from .ticker import QUANTUM_MS, Ticker, shared_ticker
from .version import __version__
from .writer import SinkWriter

__all__ = [
    "DEFAULT_STRETCH",
    "QUANTUM_MS",
    "ROOM_LEAD_MS",
    "AdaptiveHold",
    "AudioSourceSink",
    "Clock",
    "LoopClock",
    "PacedAudioOutput",
    "PacedFrame",
    "PacedSink",
    "PacedStream",
    "PacerClosedError",
    "SegmentStats",
    "SinkWriter",
    "StreamStats",
    "Stretch",
    "Ticker",
    "VirtualClock",
    "__version__",
    "default_lead_ms",
    "needed_hold",
    "shared_ticker",
]


class PacerPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


Plugin.register_plugin(PacerPlugin())
