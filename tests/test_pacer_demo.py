"""The pacer demo's pieces: producer model, naive timing, sink, outputs (not its timing)."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np
import pytest
from livekit.plugins.pacer import PacedStream, SegmentStats
from livekit.plugins.pacer.testing import Ticker, VirtualClock
from rich.console import Console

from lab import pacer_demo
from lab.pacer_demo import Chunk, FrameLog


def test_speech_is_bundled_and_resampled_to_8k() -> None:
    speech = pacer_demo.load_speech()
    assert speech.dtype == np.int16
    assert len(speech) == pytest.approx(3.095 * 8000, abs=10)
    assert np.abs(speech).max() > 1000


def test_bursty_chunks_cover_the_reply_exactly_like_a_model() -> None:
    speech = pacer_demo.load_speech()
    chunks = pacer_demo.bursty_chunks(speech, random.Random(3))
    np.testing.assert_array_equal(np.concatenate([c.pcm for c in chunks]), speech)
    assert chunks[0].after == 0.0
    assert all(400 <= len(c.pcm) <= 4000 for c in chunks[:-1])
    assert all(0.0 <= c.after <= 0.3 for c in chunks)
    again = pacer_demo.bursty_chunks(speech, random.Random(3))
    assert [len(c.pcm) for c in again] == [len(c.pcm) for c in chunks]


def test_naive_forwarding_sends_each_burst_at_once() -> None:
    chunks = [Chunk(np.ones(800, np.int16), 0.0), Chunk(np.ones(400, np.int16), 0.2)]
    assert pacer_demo.naive_send_times(chunks) == [0.0] * 5 + [0.2] * 3


async def test_a_paced_reply_reaches_the_log_on_the_grid() -> None:
    clock = VirtualClock()
    log = FrameLog(now=clock.now)
    stream = PacedStream(log, sample_rate=8000, ticker=Ticker(clock))
    speech = pacer_demo.load_speech()[:8000]
    chunks = pacer_demo.bursty_chunks(speech, random.Random(1))

    async def wait(seconds: float) -> None:
        clock.advance(seconds)

    await pacer_demo.deliver(chunks, stream.push, wait)
    stream.flush()
    clock.advance(2.0)
    assert np.allclose(np.diff(log.times), 0.02, atol=1e-9)
    assert log.ended and log.ended[0].emitted_samples == 8000
    assert len(log.audio()) == log.ended[0].frames_out * 160


def test_wav_and_png_are_written(tmp_path: Path) -> None:
    pcm = (np.arange(800) % 100).astype(np.int16)
    pacer_demo.write_wav(tmp_path / "a" / "x.wav", pcm)
    with wave.open(str(tmp_path / "a" / "x.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        np.testing.assert_array_equal(np.frombuffer(w.readframes(800), np.int16), pcm)
    pacer_demo.plot_timing(tmp_path / "t.png", [0.0, 0.02, 0.04], [0.0, 0.0, 0.0])
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stats_table_shows_both_replies() -> None:
    played = SegmentStats(0, 8000, 160, first_audio_at=1.0, hold=0.06, first_frame_at=1.06)
    played.pushed_samples = played.emitted_samples = 24760
    cut = SegmentStats(1, 8000, 160, first_audio_at=5.0, hold=0.12, hold_limit=0.25, cover=0.28)
    cut.emitted_samples = 8320
    run = pacer_demo.DemoRun(
        log=FrameLog(now=lambda: 0.0),
        stream=None,  # type: ignore[arg-type]
        chunks=[],
        played=played,
        cut=cut,
        started_at=0.0,
    )
    console = Console(record=True, width=120)
    console.print(pacer_demo.stats_table(run))
    text = console.export_text()
    assert "24760 samples" in text and "8320 samples" in text
    assert "280 ms" in text and "120 ms" in text and "250 ms" in text


@pytest.mark.slow
def test_the_demo_runs_and_writes_its_outputs(tmp_path: Path) -> None:
    assert pacer_demo.main(tmp_path) == 0
    assert (tmp_path / "pacer_demo.wav").stat().st_size > 40_000
    assert (tmp_path / "pacer_timing.png").exists()
