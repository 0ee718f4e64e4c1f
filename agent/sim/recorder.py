"""What the model heard: each committed caller turn written as a WAV file.

The simulator sits where every caller path ends, so the audio it commits for a turn is the
caller's speech after the whole path — μ-law and the sidecar's resampler on ``twilio-ws``, the
SFU's Opus and RoomIO's resampler on the room paths. A measurement (``trunkline lab``) reads
these files to judge the caller-to-agent direction. Names carry the commit time (epoch
milliseconds), the connection number and the turn, so a reader can tell calls apart by when
they happened: ``1795000000123-c4-t2.wav``.
"""

from __future__ import annotations

import logging
import time
import wave
from pathlib import Path

from .input_buffer import SAMPLE_RATE

logger = logging.getLogger(__name__)


def record_turn(directory: Path, connection: int, turn: int, pcm: bytes) -> Path | None:
    """Write ``pcm`` (PCM16 mono at 24 kHz); a failure is logged, never raised into a call."""
    path = directory / f"{round(time.time() * 1000)}-c{connection}-t{turn}.wav"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm)
    except OSError as exc:
        logger.warning("cannot record caller turn to %s: %s", path, exc)
        return None
    return path
