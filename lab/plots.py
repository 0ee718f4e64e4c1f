"""The lab's pictures, each a function from plain data to a PNG.

Figures are built on ``matplotlib.figure.Figure`` directly (rendered by Agg on save), never
through pyplot: no global backend state, no display needed, safe to call from any command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from lab.pcm import as_float
from lab.turnlog import STAGES

#: One colour per path, the same in every figure.
PATH_COLOURS: Final = {
    "source": "#555555",
    "twilio-ws": "#d62728",
    "sip": "#ff7f0e",
    "webrtc": "#1f77b4",
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


def frame_timing(
    send_times: Mapping[str, npt.ArrayLike], out: Path, *, frame_ms: float = 20.0
) -> Path:
    """Pacer frame timing: lateness against the ideal grid, and inter-frame intervals.

    ``send_times`` maps a label (e.g. "paced", "naive") to the send time in seconds of each
    frame; the ideal grid starts at the first frame and advances ``frame_ms`` per frame.
    """
    fig = Figure(figsize=(9, 6))
    grid_ax, gap_ax = fig.subplots(2, 1)
    for label, times in send_times.items():
        t = np.asarray(times, dtype=np.float64)
        if len(t) == 0:
            continue
        ideal = t[0] + np.arange(len(t)) * frame_ms / 1000.0
        grid_ax.plot(t - t[0], 1000.0 * (t - ideal), lw=0.8, label=label)
        if len(t) > 1:
            gap_ax.plot(t[1:] - t[0], 1000.0 * np.diff(t), ".", ms=2, label=label)
    grid_ax.set_ylabel("send time − ideal grid (ms)")
    grid_ax.set_title("Frame send times against a drift-free clock")
    gap_ax.axhline(frame_ms, color="k", lw=0.6, ls=":")
    gap_ax.set_ylabel("interval between frames (ms)")
    gap_ax.set_xlabel("seconds since first frame")
    for ax in (grid_ax, gap_ax):
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right")
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
