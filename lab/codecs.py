"""Real codec round trips: G.711 μ-law at 8 kHz and Opus at 48 kHz.

Opus runs through PyAV's bundled libopus the way WebRTC uses it: 48 kHz, mono, 20 ms frames,
VoIP application. No container carries a pre-skip, so — as over RTP — the decoded audio keeps
the codec's delay (~6.5 ms); measure with :mod:`lab.align` before comparing with the input.
"""

from __future__ import annotations

from typing import Final

import av
import numpy as np
from av.audio.frame import AudioFrame

from lab.pcm import Int16Array, to_int16
from sip import g711
from trunkline.resample import resample

ULAW_RATE: Final = 8000
OPUS_RATE: Final = 48000
#: libwebrtc's default Opus target for a mono voice track.
OPUS_BITRATE: Final = 32000
OPUS_FRAME: Final = OPUS_RATE * 20 // 1000


def ulaw_roundtrip(pcm: Int16Array, rate: int) -> Int16Array:
    """Band-limit to 8 kHz (soxr HQ), μ-law encode and decode: what a PSTN leg delivers."""
    return g711.decode(g711.encode(resample(pcm, rate, ULAW_RATE)))


def opus_roundtrip(pcm: Int16Array, rate: int, *, bitrate: int = OPUS_BITRATE) -> Int16Array:
    """Resample to 48 kHz, Opus encode in 20 ms frames and decode; returns 48 kHz PCM16."""
    x = resample(pcm, rate, OPUS_RATE)
    x = np.concatenate([x, np.zeros(-len(x) % OPUS_FRAME, dtype=np.int16)])
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = OPUS_RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = bitrate
    encoder.options = {"application": "voip", "frame_duration": "20"}
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate = OPUS_RATE
    decoder.layout = "mono"
    packets = []
    for pts in range(0, len(x), OPUS_FRAME):
        frame = AudioFrame.from_ndarray(
            x[pts : pts + OPUS_FRAME].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = OPUS_RATE
        frame.pts = pts
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    decoded = [f.to_ndarray() for p in packets for f in decoder.decode(p)]
    decoded.extend(f.to_ndarray() for f in decoder.decode(None))
    out = np.concatenate([d.reshape(-1) for d in decoded])
    return out if out.dtype == np.int16 else to_int16(out.astype(np.float64))
