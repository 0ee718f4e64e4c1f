"""Properties over arbitrary chunkings and arrival times (virtual clock, so cheap to explore)."""

from __future__ import annotations

import numpy as np
from helpers import RecordingSink, ramp, voice
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.plugins.pacer import PacedStream, Stretch
from livekit.plugins.pacer.testing import Ticker, VirtualClock

rates = st.sampled_from([8000, 16000, 24000, 48000])
frames = st.sampled_from([10, 20])
leads = st.sampled_from([0, 20, 60])
gaps = st.floats(min_value=0.0, max_value=0.3, allow_nan=False)


@st.composite
def deliveries(draw: st.DrawFn, total: int) -> list[tuple[int, float]]:
    """Cut ``total`` samples into chunks, each arriving some time after the previous one."""
    cuts = sorted(draw(st.sets(st.integers(1, total - 1), max_size=12))) if total > 1 else []
    bounds = [0, *cuts, total]
    return [(bounds[i + 1] - bounds[i], draw(gaps)) for i in range(len(bounds) - 1)]


def play(
    rate: int,
    frame_ms: int,
    lead_ms: int,
    chunks: list[tuple[int, float]],
    stretch: Stretch | None = None,
) -> tuple[RecordingSink, PacedStream, np.ndarray]:
    clock = VirtualClock()
    sink = RecordingSink(clock)
    stream = PacedStream(
        sink,
        sample_rate=rate,
        frame_ms=frame_ms,
        lead_ms=lead_ms,
        max_buffer_ms=60_000,
        stretch=stretch,
        ticker=Ticker(clock),
    )
    total = sum(n for n, _ in chunks)
    audio = ramp(total) if stretch is None else voice(total, rate)
    at = 0
    for n, gap in chunks:
        clock.advance(gap)
        stream.push_nowait(audio[at : at + n])
        at += n
    stream.flush()
    clock.advance(len(audio) / rate + 5.0)
    return sink, stream, audio


@settings(max_examples=150, deadline=None)
@given(
    rate=rates,
    frame_ms=frames,
    lead_ms=leads,
    data=st.data(),
    seconds=st.floats(min_value=0.001, max_value=1.5),
)
def test_any_chunking_yields_the_same_audio_in_full_frames(
    rate: int, frame_ms: int, lead_ms: int, data: st.DataObject, seconds: float
) -> None:
    total = max(1, int(seconds * rate))
    chunks = data.draw(deliveries(total))
    sink, stream, audio = play(rate, frame_ms, lead_ms, chunks)
    frame_samples = rate * frame_ms // 1000
    assert all(len(f.pcm) == frame_samples for f in sink.frames)
    # nothing lost, repeated or reordered; whatever is not audio is silence
    np.testing.assert_array_equal(sink.content(), audio)
    assert all(not f.pcm[f.content :].any() for f in sink.frames)
    # one frame per deadline, never two for the same slot, never ahead by more than the lead
    deadlines = np.array([f.deadline for f in sink.frames])
    assert np.allclose(np.diff(deadlines), frame_ms / 1000, atol=1e-6)
    assert all(-1e-9 <= f.deadline - f.at <= lead_ms / 1000 + 1e-9 for f in sink.frames)
    seg = sink.ended[0]
    assert seg.emitted_samples == len(audio)
    assert seg.frames_out * frame_samples == (
        seg.emitted_samples + seg.underrun_samples + seg.padded_samples
    )
    assert stream.queued_samples == 0


@settings(max_examples=80, deadline=None)
@given(
    rate=rates,
    frame_ms=frames,
    lead_ms=leads,
    data=st.data(),
    seconds=st.floats(min_value=0.001, max_value=1.5),
    start_cover=st.sampled_from([0.0, 0.5, 1.0]),
    max_rate=st.sampled_from([1.0, 1.1]),
)
def test_adaptive_playout_accounts_for_every_model_sample(
    rate: int,
    frame_ms: int,
    lead_ms: int,
    data: st.DataObject,
    seconds: float,
    start_cover: float,
    max_rate: float,
) -> None:
    total = max(1, int(seconds * rate))
    chunks = data.draw(deliveries(total))
    stretch = Stretch(start_cover=start_cover, max_rate=max_rate)
    sink, stream, audio = play(rate, frame_ms, lead_ms, chunks, stretch)
    frame_samples = rate * frame_ms // 1000
    seg = sink.ended[0]
    assert all(len(f.pcm) == frame_samples for f in sink.frames)
    assert sink.model() == seg.emitted_samples == len(audio)
    assert all(f.model >= 0 and not f.pcm[f.content :].any() for f in sink.frames)
    audio_out = seg.emitted_samples + seg.stretched_out_samples - seg.stretched_samples
    assert seg.frames_out * frame_samples == (audio_out + seg.underrun_samples + seg.padded_samples)
    assert stretch.min_rate <= seg.min_rate <= seg.max_rate <= stretch.max_rate
    deadlines = np.array([f.deadline for f in sink.frames])
    assert np.allclose(np.diff(deadlines), frame_ms / 1000, atol=1e-6)
    assert all(-1e-9 <= f.deadline - f.at <= lead_ms / 1000 + 1e-9 for f in sink.frames)
    assert stream.queued_samples == 0


@settings(max_examples=100, deadline=None)
@given(data=st.data(), cut_after=st.floats(min_value=0.0, max_value=2.0))
def test_clear_leaves_exactly_a_prefix(data: st.DataObject, cut_after: float) -> None:
    clock = VirtualClock()
    sink = RecordingSink(clock)
    stream = PacedStream(sink, sample_rate=16000, max_buffer_ms=60_000, ticker=Ticker(clock))
    audio = ramp(16000)
    at = 0
    for n, gap in data.draw(deliveries(len(audio))):
        clock.advance(gap)
        stream.push_nowait(audio[at : at + n])
        at += n
    clock.advance(cut_after)
    cut = stream.clear()
    clock.advance(2.0)
    played = sink.content()
    np.testing.assert_array_equal(played, audio[: len(played)])
    if cut is not None:
        assert cut.emitted_samples == len(played)
