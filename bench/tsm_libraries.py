"""Which streaming time-scale-modification library should the pacer's adaptive playout use?

The pacer slows a reply down (to ~0.9×) while little of it is queued and speeds it up (to
~1.1×) once it is ahead, 20 ms at a time, on live speech. Candidates on PyPI: Sonic
(``libsonic``, pitch-synchronous overlap-add), Rubber Band (``pylibrb``, phase vocoder; its R2
"faster" and R3 "finer" engines) and WSOLA from ``audiotsm``. Each processes the bundled
CMU ARCTIC clips (16 kHz, the PESQ-WB rate) in 20 ms steps and is scored against the
unprocessed clip:

- PESQ-WB of the processed clip against the original, per clip, for two rate patterns: the
  first 0.3 s at 0.9× (a reply that opens short), and that plus 0.27 s at 1.1× from 1.5 s (the
  catch-up). PESQ re-aligns per utterance, not within one, so it also charges the moving delay
  itself: the figures are a lower bound on the artifacts' cost and comparable across libraries;
- CPU per second of audio at a steady 0.9× (``time.process_time``, best of ``--repeats``),
  against a same-run pass-through that only slices and copies the frames;
- latency: the most input it held at a steady 0.9× (input fed − output produced × 0.9);
- whether 1.0× passes the samples through bit-exact (so unstretched audio is untouched).

Only ``libsonic`` is a project dependency; the others are installed for this comparison alone::

    pip install --target /tmp/tsm-extra pylibrb==0.1.2 audiotsm==0.1.2
    PYTHONPATH=/tmp/tsm-extra .venv/bin/python bench/tsm_libraries.py
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from lab.quality import pesq_score
from lab.speech import bundled_speech_files, load_speech

RATE = 16000
FRAME = RATE // 50
Floats = npt.NDArray[np.float32]


class Stretcher(Protocol):
    def push(self, pcm: Floats, rate: float) -> Floats: ...

    def finish(self) -> Floats: ...


class Passthrough:
    def push(self, pcm: Floats, rate: float) -> Floats:
        return pcm.copy()

    def finish(self) -> Floats:
        return np.zeros(0, np.float32)


class Sonic:
    def __init__(self) -> None:
        self._s = importlib.import_module("libsonic").SonicStream(RATE, 1)

    def push(self, pcm: Floats, rate: float) -> Floats:
        self._s.set_speed(rate)
        self._s.write(pcm)
        return np.asarray(self._s.read(self._s.available_frames()), np.float32)

    def finish(self) -> Floats:
        self._s.flush()
        return np.asarray(self._s.read(self._s.available_frames()), np.float32)


class RubberBand:
    def __init__(self, engine: str) -> None:
        rb = importlib.import_module("pylibrb")
        opt = rb.Option
        options = opt.PROCESS_REALTIME | getattr(opt, engine) | opt.FORMANT_PRESERVED
        if engine == "ENGINE_FASTER":
            options |= opt.WINDOW_SHORT | opt.DETECTOR_SOFT | opt.PitchHighConsistency
        self._s = rb.RubberBandStretcher(
            sample_rate=RATE, channels=1, options=options, initial_time_ratio=1.0
        )
        self._s.set_max_process_size(FRAME * 2)

    def push(self, pcm: Floats, rate: float) -> Floats:
        self._s.time_ratio = 1.0 / rate
        self._s.process(pcm.reshape(1, -1))
        return np.asarray(self._s.retrieve_available()[0], np.float32)

    def finish(self) -> Floats:
        self._s.process(np.zeros((1, 0), np.float32), final=True)
        return np.asarray(self._s.retrieve_available()[0], np.float32)


class Wsola:
    def __init__(self) -> None:
        tsm = importlib.import_module("audiotsm")
        io = importlib.import_module("audiotsm.io.array")
        # 32 ms frames, half overlap: the usual WSOLA set-up for speech at 16 kHz
        self._s = tsm.wsola(1, speed=1.0, frame_length=512, synthesis_hop=256)
        self._io = io

    def push(self, pcm: Floats, rate: float) -> Floats:
        self._s.set_speed(rate)
        reader = self._io.ArrayReader(pcm.reshape(1, -1).astype(np.float64))
        writer = self._io.ArrayWriter(1)
        while not reader.empty:
            self._s.read_from(reader)
            self._s.write_to(writer)
        return np.asarray(writer.data[0], np.float32)

    def finish(self) -> Floats:
        writer = self._io.ArrayWriter(1)
        self._s.flush_to(writer)
        return np.asarray(writer.data[0], np.float32)


CANDIDATES: dict[str, tuple[str, str, Callable[[], Stretcher]]] = {
    # name: (package, licence, factory)
    "pass-through (reference)": ("—", "—", Passthrough),
    "Sonic (libsonic 0.1.0)": ("libsonic", "Apache-2.0", Sonic),
    "Rubber Band R2 faster (pylibrb 0.1.2)": (
        "pylibrb",
        "GPL-2.0",
        lambda: RubberBand("ENGINE_FASTER"),
    ),
    "Rubber Band R3 finer (pylibrb 0.1.2)": (
        "pylibrb",
        "GPL-2.0",
        lambda: RubberBand("ENGINE_FINER"),
    ),
    "WSOLA (audiotsm 0.1.2)": ("audiotsm", "MIT", Wsola),
}


PATTERNS: dict[str, Callable[[float], float]] = {
    # what the pacer does at the start of a reply whose first chunk is short
    "slow": lambda t: 0.9 if t < 0.3 else 1.0,
    # ... and the catch-up once it is ahead
    "slow+catch-up": lambda t: 0.9 if t < 0.3 else 1.1 if 1.5 <= t < 1.77 else 1.0,
}


@dataclass
class Score:
    pesq: dict[str, list[float]]
    cpu_per_s_ms: float
    held_ms: float
    exact_at_1: bool


def process(
    make: Callable[[], Stretcher], clip: Floats, rate_at: Callable[[float], float]
) -> tuple[Floats, float, float]:
    """The clip through a fresh stretcher 20 ms at a time: output, CPU seconds, most held."""
    s = make()
    out: list[Floats] = []
    fed = 0
    accounted = 0.0
    held = 0.0
    t0 = time.process_time()
    for i in range(0, len(clip), FRAME):
        rate = rate_at(i / RATE)
        piece = clip[i : i + FRAME]
        got = s.push(piece, rate)
        fed += len(piece)
        accounted += len(got) * rate
        held = max(held, fed - accounted)
        out.append(got)
    out.append(s.finish())
    cpu = time.process_time() - t0
    return np.concatenate(out), cpu, held


def score(make: Callable[[], Stretcher], clips: list[Floats], repeats: int) -> Score:
    pesq: dict[str, list[float]] = {name: [] for name in PATTERNS}
    cpus, helds = [], []
    for clip in clips:
        for name, pattern in PATTERNS.items():
            out, _, _ = process(make, clip, pattern)
            pesq[name].append(pesq_score(clip, out, RATE, "wb"))
        # CPU and latency at a steady 0.9x: every frame goes through the algorithm
        runs = [process(make, clip, lambda _: 0.9) for _ in range(repeats)]
        cpus.append(min(cpu for _, cpu, _ in runs) / (len(clip) / RATE))
        helds.append(runs[0][2])
    s = make()
    ints = (clips[0][: RATE // 2] * 32767).round() / 32767
    through = np.concatenate(
        [s.push(ints[i : i + FRAME].astype(np.float32), 1.0) for i in range(0, len(ints), FRAME)]
    )
    exact = len(through) == len(ints) and bool(
        np.array_equal((through * 32767).round(), (ints * 32767).round())
    )
    return Score(
        pesq=pesq,
        cpu_per_s_ms=1000 * float(np.mean(cpus)),
        held_ms=1000 * max(helds) / RATE,
        exact_at_1=exact,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="CPU: best of this many runs")
    args = parser.parse_args()
    clips = [load_speech(p) for p in bundled_speech_files()]
    if any(c.rate != RATE for c in clips):
        raise SystemExit("the bundled clips are expected at 16 kHz")
    audio = [c.samples.astype(np.float32) for c in clips]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"load {os.getloadavg()}; clips: {', '.join(c.name for c in clips)}"
    )
    heads = " | ".join(f"PESQ-WB {name}" for name in PATTERNS)
    print(
        f"| library | licence | {heads} | CPU ms per audio s at 0.9× | ×pass-through "
        "| most input held ms | 1.0× bit-exact |"
    )
    print("|" + " --- |" * (6 + len(PATTERNS)))
    ref: Score | None = None
    for name, (package, licence, make) in CANDIDATES.items():
        if package != "—":
            try:
                importlib.import_module(package)
            except ImportError:
                print(f"| {name} | {licence} | not installed |" + " |" * (4 + len(PATTERNS)))
                continue
        result = score(make, audio, args.repeats)
        ref = ref or result
        ratio = result.cpu_per_s_ms / ref.cpu_per_s_ms
        held = f"{result.held_ms:.0f}" if package != "—" else "0"
        pesq = " | ".join(" / ".join(f"{v:.2f}" for v in values) for values in result.pesq.values())
        print(
            f"| {name} | {licence} | {pesq} | {result.cpu_per_s_ms:.2f} | "
            f"{ratio:.1f}× | {held} | {'yes' if result.exact_at_1 else 'no'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
