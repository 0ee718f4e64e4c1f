"""Which speech detector should the simulator's server VAD use on a phone line?

Builds a caller track from the bundled CMU ARCTIC clips (three turns separated by pauses),
passes it through a telephone line (8 kHz; room noise at the clips' own floor everywhere;
band-limited hiss plus hum at a given SNR, or crackle; μ-law), brings it back to 24 kHz as the
Realtime protocol carries it, and runs two detectors through the same ``server_vad`` turn rules
(threshold 0.5, prefix 300 ms, silence 500 ms):

* ``silero`` — ``agent.sim.vad.SpeechScorer`` (Silero ONNX from livekit-plugins-silero);
* ``energy`` — 32 ms frame energy against an adaptive noise floor (+9 dB), the usual
  hand-written alternative.

For each line it reports turns found (3 expected), the largest onset and end errors against the
clips' active span (10 ms frames within 30 dB of the loudest), false turns in 20 s of that line's
noise alone, and each detector's speed in audio seconds per CPU second (the energy detector is
the same-run reference). Usage: ``python bench/sim_vad.py``.
"""

from __future__ import annotations

import platform
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.sim.turns import SpeechStarted, SpeechStopped, TurnDetector, VadConfig
from agent.sim.vad import SpeechScorer, Window
from sip import g711
from trunkline.resample import resample

SPEECH = Path(__file__).resolve().parents[1] / "trunkline" / "data" / "speech"
RATE = 24000
LINE_RATE = 8000
CONFIG = VadConfig()
FRAME_S = 0.032
ROOM_RMS = 32768 * 10 ** (-50 / 20)
CLIPS = ("arctic_a0007.wav", "arctic_a0009.wav", "arctic_a0007.wav")
GAPS_S = (1.5, 1.2, 1.5, 2.0)  # before, between, between, after


def load(name: str) -> npt.NDArray[np.int16]:
    with wave.open(str(SPEECH / name)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        return resample(pcm, w.getframerate(), LINE_RATE)


def active_span(pcm: npt.NDArray[np.int16], rate: int) -> tuple[float, float]:
    frame = int(0.01 * rate)
    n = len(pcm) // frame
    energy = (pcm[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    db = 10 * np.log10(energy + 1e-9)
    active = np.flatnonzero(db > db.max() - 30)
    return active[0] * 0.01, (active[-1] + 1) * 0.01


def build_call() -> tuple[npt.NDArray[np.float64], list[tuple[float, float]]]:
    parts: list[npt.NDArray[np.float64]] = []
    truth: list[tuple[float, float]] = []
    t = 0.0
    for i, name in enumerate(CLIPS):
        gap = np.zeros(int(GAPS_S[i] * LINE_RATE))
        parts.append(gap)
        t += GAPS_S[i]
        clip = load(name).astype(np.float64)
        a, b = active_span(clip.astype(np.int16), LINE_RATE)
        truth.append((t + a, t + b))
        parts.append(clip)
        t += len(clip) / LINE_RATE
    parts.append(np.zeros(int(GAPS_S[-1] * LINE_RATE)))
    return np.concatenate(parts), truth


def line_noise(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Telephone-band hiss (300–3400 Hz) plus a little 60 Hz hum, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / LINE_RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    hiss = np.fft.irfft(spectrum, n)
    hiss /= hiss.std()
    hum = 0.3 * np.sin(2 * np.pi * 60 * np.arange(n) / LINE_RATE)
    out = hiss + hum
    return np.asarray(out / out.std(), dtype=np.float64)


def crackle(n: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Line crackle: about five short clicks a second at a third of full scale."""
    out = np.zeros(n)
    for at in rng.choice(n - 3, size=max(1, n * 5 // LINE_RATE), replace=False):
        out[at : at + int(rng.integers(1, 4))] = rng.choice((-1.0, 1.0)) * 0.33 * 32768
    return out


@dataclass(frozen=True)
class Line:
    label: str
    snr_db: float | None
    clicks: bool = False


LINES = (
    Line("μ-law, room noise only", None),
    Line("μ-law, hiss at 20 dB SNR", 20.0),
    Line("μ-law, hiss at 10 dB SNR", 10.0),
    Line("μ-law, hiss at 5 dB SNR", 5.0),
    Line("μ-law, hiss at 0 dB SNR", 0.0),
    Line("μ-law, hiss at 20 dB SNR + crackle", 20.0, clicks=True),
)


def through_line(
    speech: npt.NDArray[np.float64], line: Line, level_rms: float, seed: int
) -> npt.NDArray[np.int16]:
    """Room noise at the clips' own floor (−50 dBFS) everywhere, then the line, then μ-law."""
    rng = np.random.default_rng(seed)
    signal = speech + rng.standard_normal(len(speech)) * ROOM_RMS
    if line.snr_db is not None:
        signal += line_noise(len(signal), rng) * level_rms / 10 ** (line.snr_db / 20)
    if line.clicks:
        signal += crackle(len(signal), rng)
    pcm = np.clip(np.round(signal), -32768, 32767).astype(np.int16)
    return resample(g711.decode(g711.encode(pcm)), LINE_RATE, RATE)


class EnergyScorer:
    """Frame energy above an adaptive noise floor, reported as probability 0 or 1."""

    def __init__(self) -> None:
        self._frame = int(FRAME_S * RATE)
        self._pending = np.zeros(0, dtype=np.float64)
        self._done = 0
        self._floor_db: float | None = None

    def push(self, pcm: npt.NDArray[np.int16]) -> list[Window]:
        self._pending = np.concatenate([self._pending, pcm.astype(np.float64)])
        out: list[Window] = []
        while len(self._pending) >= self._frame:
            frame, self._pending = self._pending[: self._frame], self._pending[self._frame :]
            self._done += self._frame
            db = 10 * np.log10(np.mean(frame**2) + 1e-9)
            floor = db if self._floor_db is None else self._floor_db
            # falls fast, rises slowly: tracks the noise between words, not the speech
            self._floor_db = min(db, floor + 0.05) if db > floor else 0.7 * floor + 0.3 * db
            out.append(Window(end_s=self._done / RATE, probability=float(db > floor + 9)))
        return out


@dataclass
class Result:
    turns: list[tuple[float, float]]
    cpu_s: float


def detect(kind: str, pcm: npt.NDArray[np.int16]) -> Result:
    silero = SpeechScorer(RATE)
    energy = EnergyScorer()
    detector = TurnDetector(CONFIG, silero.window_s if kind == "silero" else FRAME_S)
    turns: list[tuple[float, float]] = []
    onset: float | None = None
    step = RATE // 10  # the plugin appends 100 ms at a time
    t0 = time.process_time()
    for i in range(0, len(pcm), step):
        chunk = pcm[i : i + step]
        windows = list(silero.push(chunk)) if kind == "silero" else energy.push(chunk)
        for ev in detector.feed(windows):
            if isinstance(ev, SpeechStarted):
                onset = ev.onset_ms / 1000
            elif isinstance(ev, SpeechStopped) and onset is not None:
                turns.append((onset, (ev.audio_end_ms - CONFIG.silence_duration_ms) / 1000))
    return Result(turns, time.process_time() - t0)


def score(turns: list[tuple[float, float]], truth: list[tuple[float, float]]) -> str:
    if len(turns) != len(truth):
        return f"{len(turns)} turns | – | –"
    onset = max(abs(a - ta) for (a, _), (ta, _) in zip(turns, truth, strict=True))
    end = max(abs(b - tb) for (_, b), (_, tb) in zip(turns, truth, strict=True))
    return f"{len(turns)} turns | {onset * 1000:.0f} | {end * 1000:.0f}"


def main() -> int:
    speech, truth = build_call()
    level = float(np.sqrt(np.mean(speech[np.abs(speech) > 0] ** 2)))
    noise_only = np.zeros(20 * LINE_RATE)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {sys.version[:6]}")
    print(
        "| line | detector | turns (of 3) | max onset err ms | max end err ms "
        "| false turns / 20 s noise | × real time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for line in LINES:
        call = through_line(speech, line, level, seed=1)
        noise = through_line(noise_only, line, level, seed=2)
        for kind in ("silero", "energy"):
            result = detect(kind, call)
            false = len(detect(kind, noise).turns)
            speed = len(call) / RATE / max(result.cpu_s, 1e-9)
            print(
                f"| {line.label} | {kind} | {score(result.turns, truth)} | {false} | {speed:.0f}× |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
