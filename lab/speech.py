"""Speech material for the codec-chain table: any audio file, the bundled clips, the synthesizer.

Files are decoded with PyAV, so a user can bring WAV, FLAC, MP3 or Opus recordings alike;
multichannel audio is averaged to mono at the file's own rate (rates are matched later, per
metric, with soxr).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import av
import numpy as np

from lab.pcm import FloatArray
from lab.synth import speech_like

SYNTH_RATE = 24000


@dataclass(frozen=True)
class Speech:
    name: str
    samples: FloatArray
    rate: int
    #: Where it came from, for the report (a path, or the synthesizer and its seed).
    origin: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def load_speech(path: str | Path) -> Speech:
    """Decode an audio file's first audio stream to mono float64."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate)
            # Planar float64 at the native layout, then the mean over channels: FFmpeg's own
            # downmix weights each channel by −3 dB, which lifts identical channels by +3 dB.
            planar = av.AudioResampler(format="dblp", rate=rate)
            chunks = [
                out.to_ndarray().mean(axis=0)
                for frame in container.decode(stream)
                for out in planar.resample(frame)
            ]
            chunks.extend(out.to_ndarray().mean(axis=0) for out in planar.resample(None))
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot decode {path}: {exc}") from exc
    if not chunks:
        raise ValueError(f"{path}: no audio samples")
    return Speech(path.stem, np.concatenate(chunks).astype(np.float64), rate, str(path))


def bundled_speech_files() -> list[Path]:
    """The CMU ARCTIC clips shipped in ``trunkline/data/speech``."""
    folder = resources.files("trunkline") / "data" / "speech"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".wav"))


def synthetic_speech(seconds: float = 4.0, seed: int = 0) -> Speech:
    """The wideband speech-like signal (:mod:`lab.synth`) at the model's 24 kHz."""
    samples = speech_like(seconds, SYNTH_RATE, seed=seed)
    return Speech(f"synthetic-{seed}", samples, SYNTH_RATE, f"lab.synth seed={seed}")
