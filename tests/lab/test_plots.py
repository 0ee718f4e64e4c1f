"""Every plot helper writes a real PNG of a sensible size from plain data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from lab import plots
from tests.lab.conftest import tone, white


def check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = imread(path).shape[:2]
    assert width > 300 and height > 200


def test_latency_cdf(tmp_path: Path) -> None:
    out = plots.latency_cdf(
        {"twilio-ws": [1.2, 0.9, 1.5], "webrtc": [], "sip": [2.0]}, tmp_path / "a.png"
    )
    check_png(out)


def test_waterfall_with_a_missing_stage(tmp_path: Path) -> None:
    medians: dict[str, dict[str, float | None]] = {
        "twilio-ws": {"turn_detection": 0.5, "model": 0.8, "pacing": 0.06, "transport": 0.05},
        "webrtc": {"turn_detection": 0.5, "model": 0.7, "pacing": 0.06, "transport": None},
    }
    check_png(plots.waterfall_bars(medians, tmp_path / "sub" / "w.png"))


def test_spectrograms_of_paths_at_different_rates(tmp_path: Path) -> None:
    signals = {"source": (tone(1000, 24000), 24000), "twilio-ws": (white(8000, 1.0), 8000)}
    check_png(plots.spectrograms(signals, tmp_path / "s.png", title="t"))


def test_pacer_ab_of_a_paced_and_a_bursty_reply(tmp_path: Path) -> None:
    paced = [(0.02 * i, 0.02) for i in range(100)]
    bursty = [(0.2 * i, 0.2) for i in range(10)]
    audio = (np.sin(np.arange(16000) / 5) * 8000).astype(np.int16)
    series = {
        "twilio-ws (local)": {
            "paced": plots.ReplySeries(paced, audio, 8000),
            "unpaced": plots.ReplySeries(bursty, audio, 8000),
        },
        "webrtc": {"paced": plots.ReplySeries([], np.zeros(0, np.int16), 48000)},
    }
    check_png(plots.pacer_ab(series, tmp_path / "ab.png"))


def test_sweep_of_transport_share(tmp_path: Path) -> None:
    points = {"sip": [(250.0, 12.0), (900.0, 6.0), (2000.0, 3.0)], "webrtc": []}
    check_png(plots.sweep(points, tmp_path / "sweep.png"))


def test_bandwidth_bars(tmp_path: Path) -> None:
    figures = {"a": {"source": 9000.0, "webrtc": 8800.0}, "b": {"source": 4000.0, "sip": 3000.0}}
    check_png(plots.bandwidth_bars(figures, tmp_path / "b.png", method="Welch", reference_hz=4000))


def test_unwritable_destination_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        plots.latency_cdf({"sip": [1.0]}, blocker / "a.png")
