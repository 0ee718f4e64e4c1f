"""The lab's pictures, each a function from plain data to a PNG.

Figures are built on ``matplotlib.figure.Figure`` directly (rendered by Agg on save), never
through pyplot: no global backend state, no display needed, safe to call from any command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from lab.pcm import as_float
from trunkline.turnlog import STAGES

#: One colour per path, the same in every figure.
PATH_COLOURS: Final = {
    "source": "#555555",
    "twilio-ws": "#d62728",
    "twilio-ws (local)": "#d62728",
    "twilio-ws (bridge)": "#8c2d04",
    "sip": "#ff7f0e",
    "webrtc": "#1f77b4",
    "webrtc (browser)": "#2ca02c",
}
STAGE_COLOURS: Final = {
    "turn_detection": "#9467bd",
    "model": "#8c564b",
    "pacing": "#e377c2",
    "transport": "#17becf",
}


def _save(fig: Figure, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    return out


def latency_cdf(latencies: Mapping[str, Sequence[float]], out: Path) -> Path:
    """Empirical CDF of response latency, one step line per path."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for path, values in latencies.items():
        if not values:
            continue
        xs = np.sort(np.asarray(values, dtype=np.float64))
        ys = np.arange(1, len(xs) + 1) / len(xs)
        ax.step(xs, ys, where="post", label=f"{path} (n={len(xs)})", color=PATH_COLOURS.get(path))
    ax.set_xlabel("response latency: caller speech end → first audio at the caller (s)")
    ax.set_ylabel("fraction of turns")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Response latency per path")
    return _save(fig, out)


def waterfall_bars(
    stage_medians: Mapping[str, Mapping[str, float | None]],
    out: Path,
    *,
    title: str = "Where the time goes (median per stage)",
    # Medians do not add up: the bar's length is not the median total latency.
    xlabel: str = "median seconds per stage (stacked; the sum is not the median latency)",
) -> Path:
    """Seconds per waterfall stage, stacked left to right, one bar per row.

    Rows are paths (stage medians) or single turns (their own stage durations, with a title and
    label saying so). A stage with no data is drawn as zero width and named in the legend as
    missing for that row, so a short bar is never mistaken for a fast stage.
    """
    fig = Figure(figsize=(8, 1.2 + 0.7 * max(len(stage_medians), 1)))
    ax = fig.add_subplot()
    paths = list(stage_medians)
    left = np.zeros(len(paths))
    for stage in STAGES:
        widths = np.array([stage_medians[p].get(stage) or 0.0 for p in paths])
        missing = [p for p in paths if stage_medians[p].get(stage) is None]
        label = stage.replace("_", " ") + (f" (no data: {', '.join(missing)})" if missing else "")
        ax.barh(paths, widths, left=left, color=STAGE_COLOURS[stage], label=label)
        left += widths
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2, fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, out)


def spectrograms(
    signals: Mapping[str, tuple[npt.ArrayLike, int]], out: Path, *, title: str = ""
) -> Path:
    """One spectrogram per path (rows), on a shared 0–12 kHz axis, so lost bands are visible."""
    fig = Figure(figsize=(8, 1.9 * len(signals) + 0.6))
    axes = fig.subplots(len(signals), 1, sharex=True, squeeze=False)[:, 0]
    top = 12000.0
    for ax, (name, (samples, rate)) in zip(axes, signals.items(), strict=True):
        x = as_float(samples)
        nfft = max(round(0.032 * rate), 16)
        with np.errstate(divide="ignore"):  # digital silence has no level: drawn blank
            ax.specgram(
                x, NFFT=nfft, Fs=rate, noverlap=nfft // 2, cmap="magma", vmin=-130, vmax=-30
            )
        ax.set_ylim(0, top)
        if rate / 2 < top:
            ax.axhline(rate / 2, color="k", lw=0.6, ls=":")  # this signal's Nyquist
        ax.set_ylabel("Hz")
        ax.set_title(f"{name} ({rate} Hz)", fontsize="small", loc="left")
    axes[-1].set_xlabel("seconds")
    if title:
        fig.suptitle(title)
    return _save(fig, out)


def bandwidth_bars(
    figures: Mapping[str, Mapping[str, float]], out: Path, *, method: str, reference_hz: float
) -> Path:
    """Grouped bars of one bandwidth method: ``figures[speech][path]`` in Hz."""
    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    speeches = list(figures)
    paths = list(dict.fromkeys(p for per in figures.values() for p in per))
    width = 0.8 / max(len(paths), 1)
    for i, path in enumerate(paths):
        xs = np.arange(len(speeches)) + (i - (len(paths) - 1) / 2) * width
        hz = [figures[s].get(path, np.nan) for s in speeches]
        ax.bar(xs, hz, width, label=path, color=PATH_COLOURS.get(path))
    ax.axhline(reference_hz, color="k", lw=0.6, ls=":")
    ax.set_xticks(np.arange(len(speeches)), speeches)
    ax.set_ylabel("99 % bandwidth (Hz)")
    ax.set_title(f"99 % bandwidth per path — {method}")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, out)


def call_timeline(
    heard: npt.ArrayLike,
    rate: int,
    out: Path,
    *,
    speech_ends: Sequence[float] = (),
    first_audio: Sequence[float] = (),
    title: str = "",
) -> Path:
    """What a caller heard: waveform over spectrogram, with the latency markers of each turn.

    Times are seconds from the start of the recording: a dashed line where the caller stopped
    speaking, a solid one where the agent's audio first arrived — the gap between them is the
    response latency the caller lived through.
    """
    x = as_float(heard)
    t = np.arange(len(x)) / rate
    fig = Figure(figsize=(11, 5))
    wave_ax, spec_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
    wave_ax.plot(t, x, lw=0.4, color="#333333")
    wave_ax.set_ylim(-1, 1)
    wave_ax.set_ylabel("amplitude")
    nfft = max(round(0.032 * rate), 16)
    with np.errstate(divide="ignore"):  # digital silence has no level: drawn blank
        spec_ax.specgram(
            x, NFFT=nfft, Fs=rate, noverlap=nfft // 2, cmap="magma", vmin=-130, vmax=-30
        )
    spec_ax.set_ylabel("Hz")
    spec_ax.set_xlabel("seconds since the call started")
    for ax in (wave_ax, spec_ax):
        for i, s in enumerate(speech_ends):
            ax.axvline(
                s, color="#1f77b4", ls="--", lw=1, label="caller speech end" if i == 0 else None
            )
        for i, s in enumerate(first_audio):
            ax.axvline(s, color="#d62728", lw=1, label="first agent audio" if i == 0 else None)
    if speech_ends or first_audio:
        wave_ax.legend(loc="upper right", fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, out)


@dataclass(frozen=True)
class ReplySeries:
    """One reply of one pacer arm: when its audio arrived and what was heard."""

    #: (arrival s, seconds of audio) per message or packet or frame
    arrivals: Sequence[tuple[float, float]]
    audio: npt.ArrayLike
    rate: int


def pacer_ab(
    series: Mapping[str, Mapping[str, ReplySeries]],
    out: Path,
    *,
    title: str = "Pacer A/B per path: one reply, as it arrived and as it was heard",
) -> Path:
    """Per path (columns), each arm: top, seconds of reply audio received against seconds since
    its first audio — the dotted line is real time: above it the sender bursts ahead, on it
    something paces; bottom, the heard reply's level per 10 ms, arms offset (holes are gaps).
    """
    paths = list(series)
    fig = Figure(figsize=(3.6 * max(len(paths), 1), 6.4))
    axes = fig.subplots(2, max(len(paths), 1), squeeze=False)
    styles = {"paced": "-", "unpaced": "--"}
    for col, path in enumerate(paths):
        top, bottom = axes[0, col], axes[1, col]
        longest = 0.0
        for i, (arm, reply) in enumerate(series[path].items()):
            if reply.arrivals:
                t = np.array([a for a, _ in reply.arrivals], dtype=np.float64)
                received = np.cumsum([d for _, d in reply.arrivals])
                top.step(t - t[0], received, where="post", ls=styles.get(arm, "-"), label=arm)
                longest = max(longest, float(t[-1] - t[0]), float(received[-1]))
            x = as_float(reply.audio)
            frame = max(reply.rate // 100, 1)
            n = len(x) // frame
            if n:
                power = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
                level = np.maximum(10 * np.log10(power + 1e-12), -90.0)
                bottom.plot(np.arange(n) / 100, level - 100 * i, lw=0.6, label=arm)
        top.plot([0, longest], [0, longest], "k:", lw=0.8)
        top.set_title(path, fontsize="medium")
        top.set_xlabel("s since the reply's first audio")
        bottom.set_xlabel("s into the heard reply")
        bottom.set_yticks([])
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="x-small", loc="lower right")
    axes[0, 0].set_ylabel("s of reply audio received")
    axes[1, 0].set_ylabel("level per 10 ms (arms offset)")
    fig.suptitle(title)
    return _save(fig, out)


def sweep(
    points: Mapping[str, Sequence[tuple[float, float]]],
    out: Path,
    *,
    threshold: float = 5.0,
) -> Path:
    """Transport's share of the response latency (%) against the model stage (ms), per path:
    where the curve crosses the dotted line, transport starts to matter."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for path, xy in points.items():
        known = sorted(xy)
        if not known:
            continue
        ax.plot(
            [x for x, _ in known],
            [y for _, y in known],
            "o-",
            label=path,
            color=PATH_COLOURS.get(path),
        )
    ax.axhline(threshold, color="k", lw=0.8, ls=":", label=f"{threshold:g} % (published bound)")
    ax.set_xscale("log")
    ax.set_xlabel("model stage, median (ms): turn detected → first model audio")
    ax.set_ylabel("transport share of latency (%)")
    ax.set_title("At what model latency does transport start to matter?")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return _save(fig, out)
