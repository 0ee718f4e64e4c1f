"""The caller's audio: speech clips in, line noise between turns, recordings out.

Clips are trimmed to their speech so "end of caller speech" — where response latency starts —
is the end of the voice, not of a WAV's trailing room tone.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sip import g711
from sip.twilio.protocol import FRAME_BYTES, SAMPLE_RATE
from trunkline.resample import resample

Pcm = npt.NDArray[np.int16]


def read_wav(path: str | Path) -> tuple[Pcm, int]:
    """Mono PCM16 samples and their rate from a 16-bit WAV (channels are averaged)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        channels, rate = w.getnchannels(), w.getframerate()
    if channels > 1:
        frames = frames.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return frames, rate


def write_wav(path: str | Path, pcm: Pcm, rate: int) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())


def trim_to_speech(pcm: Pcm, rate: int) -> Pcm:
    """Cut the leading/trailing room tone: 10 ms frames more than 35 dB below the loudest, or
    within 12 dB of the clip's noise floor (its 10th-percentile frame), are not speech.

    Recordings differ in room tone (one bundled clip's floor is only ~40 dB under its peak), so
    a fixed threshold alone would count breath and hiss as speech and put "end of speech" —
    where response latency starts — hundreds of milliseconds late.
    """
    hop = rate // 100
    n = len(pcm) // hop
    if n == 0:
        return pcm
    frames = pcm[: n * hop].astype(np.float64).reshape(n, hop)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    threshold = max(energy.max() - 35.0, float(np.percentile(energy, 10)) + 12.0)
    active = np.flatnonzero(energy > threshold)
    return pcm[active[0] * hop : (active[-1] + 1) * hop]


def speech_frames(pcm: Pcm, rate: int) -> list[bytes]:
    """μ-law 20 ms frames at 8 kHz, the last one padded with μ-law silence."""
    ulaw = g711.encode(resample(pcm, rate, SAMPLE_RATE))
    pad = -len(ulaw) % FRAME_BYTES
    ulaw += bytes([g711.ULAW_SILENCE]) * pad
    return [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]


class LineNoise:
    """Low, seeded white noise (default −60 dBFS) — a phone line is never digitally silent."""

    def __init__(self, level_dbfs: float = -60.0, seed: int = 0) -> None:
        self.rms = 32768 * 10 ** (level_dbfs / 20)
        self.rng = np.random.default_rng(seed)

    def frame(self) -> bytes:
        noise = self.rng.normal(0, self.rms, FRAME_BYTES)
        return g711.encode(np.clip(noise, -32768, 32767).astype(np.int16))
