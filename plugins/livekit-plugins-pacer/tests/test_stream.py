"""PacedStream on a virtual clock: every timing behaviour is exact, with no real sleeps.

Grid origin is t=1000.000 s, 8 kHz, 20 ms frames (160 samples) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from helpers import RecordingSink, ramp
from livekit.plugins.pacer import (
    AdaptiveHold,
    PacedStream,
    PacerClosedError,
)
from livekit.plugins.pacer.testing import Ticker, VirtualClock

T0 = 1000.0
F = 160  # 20 ms at 8 kHz


def to_grid(clock: VirtualClock, ticker: Ticker) -> float:
    """Move to the next grid slot, so starts and deadlines below fall on round numbers."""
    clock.advance_to(ticker.slot_time(ticker.slot_at_or_after(clock.now())))
    return clock.now()


def stream(
    sink: RecordingSink, ticker: Ticker, **kw: object
) -> PacedStream:  # keeps each test's knobs visible
    return PacedStream(sink, sample_rate=8000, ticker=ticker, **kw)  # type: ignore[arg-type]


async def test_fixed_frames_on_absolute_deadlines(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    audio = ramp(8000)
    await s.push(audio)
    s.flush()
    clock.advance(2.0)
    assert all(len(f.pcm) == F for f in sink.frames)
    assert len(sink.frames) == 50
    for n, f in enumerate(sink.frames):
        assert f.at == pytest.approx(T0 + n * 0.02, abs=1e-9)  # flushed: starts at once
        assert f.deadline == f.at
    np.testing.assert_array_equal(sink.content(), audio)


async def test_start_hold_is_time_after_first_audio(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, prebuffer_ms=60)
    clock.advance(0.003)
    await s.push(ramp(4000))
    clock.advance(0.0669)
    assert sink.frames == []
    clock.advance(0.0002)  # first grid slot at or after 1000.063
    assert sink.times() == [pytest.approx(T0 + 0.07)]
    seg = s.current_segment
    assert seg is not None and seg.hold == pytest.approx(0.06)
    assert seg.first_frame_at == pytest.approx(T0 + 0.07)
    assert seg.first_frame_latency == pytest.approx(0.067)


async def test_flush_starts_a_holding_segment_at_once(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, prebuffer_ms=60)
    await s.push(ramp(400))
    clock.advance(0.005)
    s.flush()
    clock.advance(0.2)
    assert sink.times()[0] == pytest.approx(T0 + 0.01)
    assert sink.ended[0].hold == pytest.approx(0.005)  # what it got, not the 60 ms it may
    # 400 samples: two full frames and a padded one
    assert [f.content for f in sink.frames] == [F, F, 80]
    assert sink.frames[-1].pcm[80:].tolist() == [0] * 80
    assert sink.ended[0].padded_samples == 80


async def test_underrun_fills_silence_and_never_catches_up(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    audio = ramp(800 + 1600)
    await s.push(audio[:800])  # 100 ms, plays 1000.06 .. 1000.16
    clock.advance(0.235)
    await s.push(audio[800:])  # arrives after four silent deadlines (.16 .18 .20 .22)
    s.flush()
    clock.advance(1.0)
    times = sink.times()
    assert np.allclose(np.diff(times), 0.02, atol=1e-9)  # one frame per deadline, no burst
    assert [f.content for f in sink.frames[5:9]] == [0, 0, 0, 0]
    assert sink.frames[9].at == pytest.approx(T0 + 0.24)
    seg = sink.ended[0]
    assert seg.underruns == 1
    assert seg.underrun_samples == 4 * F
    assert seg.underrun_ms == pytest.approx(80.0)
    np.testing.assert_array_equal(sink.content(), audio)


async def test_starved_partial_frame_goes_out_padded(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    audio = ramp(2 * F + 50 + F)
    await s.push(audio[: 2 * F + 50])
    clock.advance(0.11)  # frames at .06 .08, then .10 is due with 50 samples queued
    assert [f.content for f in sink.frames] == [F, F, 50]
    await s.push(audio[2 * F + 50 :])
    s.flush()
    clock.advance(0.1)
    seg = sink.ended[0]
    assert seg.underruns == 1 and seg.underrun_samples == F - 50
    np.testing.assert_array_equal(sink.content(), audio)


async def test_segment_ends_with_its_last_frame(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(1010))
    s.flush()  # flush starts it at once
    clock.advance(1.0)
    assert [f.content for f in sink.frames] == [F] * 6 + [50]
    assert sink.events == [("start", T0, 0), ("end", sink.frames[-1].at, 0)]
    seg = sink.ended[0]
    assert seg.flushed and not seg.interrupted
    assert seg.frames_out == 7 and seg.emitted_samples == 1010 and seg.padded_samples == 110


async def test_a_whole_frame_segment_ends_with_its_last_frame_not_a_tick_later(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(5 * F))
    clock.advance(0.07)  # frames at .06 and .08 are steady-state ones
    s.flush()
    clock.advance(1.0)
    assert len(sink.frames) == 5
    assert sink.events[-1] == ("end", sink.frames[-1].at, 0)
    assert sink.frames[-1].at == pytest.approx(T0 + 0.14)


async def test_flush_after_the_queue_ran_dry_ends_at_once(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(2 * F))
    clock.advance(0.15)  # two frames, then silence at .10 .12 .14
    s.flush()
    assert sink.ended and sink.ended[0].underruns == 1
    clock.advance(0.5)
    assert len(sink.frames) == 5


async def test_lead_sends_ahead_but_never_beyond_the_bound(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, lead_ms=60)
    await s.push(ramp(8000))
    clock.advance(0.06)
    # at the start the lead is filled at once: deadlines .06 .08 .10 .12
    assert [f.deadline - T0 for f in sink.frames] == pytest.approx([0.06, 0.08, 0.10, 0.12])
    assert sink.times() == pytest.approx([T0 + 0.06] * 4)
    s.flush()
    clock.advance(2.0)
    ahead = [f.deadline - f.at for f in sink.frames]
    assert max(ahead) <= 0.06 + 1e-9 and min(ahead) >= 0.0
    assert np.allclose(np.diff([f.deadline for f in sink.frames]), 0.02, atol=1e-9)
    assert len(sink.frames) == 50


async def test_lead_refills_when_late_audio_arrives(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, lead_ms=60)
    await s.push(ramp(4 * F))  # 80 ms
    clock.advance(0.085)  # all four frames went out at .06 (deadlines .06 - .12)
    assert len(sink.frames) == 4
    await s.push(ramp(4 * F, start=4 * F + 1))
    # no tick needed: the push itself refills up to the lead (deadline .14 fits by .145)
    assert [f.deadline - T0 for f in sink.frames[4:]] == pytest.approx([0.14])
    assert sink.frames[4].at == pytest.approx(T0 + 0.085)
    assert sink.ended == [] and s.current_segment is not None
    assert s.current_segment.underruns == 0


async def test_lead_inserts_silence_only_when_a_frame_is_due(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, lead_ms=40)
    await s.push(ramp(2 * F))
    clock.advance(0.06)  # deadlines .06 .08 go out at .06
    clock.advance(0.039)  # the .10 frame is not due before 1000.10
    assert len(sink.frames) == 2
    clock.advance(0.002)
    assert [f.content for f in sink.frames] == [F, F, 0]
    assert sink.frames[2].at == pytest.approx(T0 + 0.10)


async def test_a_late_wakeup_sends_what_it_owed_and_keeps_the_grid(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)  # frames .00 ... .10 (flushed, so it started at once)
    n = len(sink.frames)
    clock.lag = 0.045  # the process stalls: the .12 tick runs at .165
    clock.advance(0.066)
    clock.lag = 0.0
    # the three frames due by then go out together, on their own deadlines
    assert [f.deadline - T0 for f in sink.frames[n:]] == pytest.approx([0.12, 0.14, 0.16])
    assert all(f.at == pytest.approx(T0 + 0.165) for f in sink.frames[n:])
    clock.advance(1.0)
    deadlines = [f.deadline for f in sink.frames]
    assert np.allclose(np.diff(deadlines), 0.02, atol=1e-9)  # no drift
    seg = sink.ended[0]
    assert seg.late_ticks == 1 and seg.max_lateness == pytest.approx(0.045)
    np.testing.assert_array_equal(sink.content(), ramp(8000))


async def test_a_stall_beyond_the_catch_up_limit_reanchors(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(8000))
    s.flush()
    clock.advance(0.1)
    n = len(sink.frames)
    clock.lag = 0.5  # half a second without running: not made good in a burst
    clock.advance(0.53)
    clock.lag = 0.0
    assert len(sink.frames) == n + 1
    assert sink.frames[n].at == pytest.approx(T0 + 0.62)
    clock.advance(1.0)
    assert sink.frames[n + 1].deadline == pytest.approx(T0 + 0.64)
    assert sink.ended[0].late_ticks == 1
    np.testing.assert_array_equal(sink.content(), ramp(8000))


async def test_small_lateness_keeps_the_grid(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    clock.lag = 0.005
    await s.push(ramp(1600))
    s.flush()
    clock.advance(1.0)
    assert [f.deadline - T0 for f in sink.frames] == pytest.approx([0.02 * n for n in range(10)])
    # the first frame went out from flush() itself; the ticker's were all 5 ms late
    assert all(f.at - f.deadline == pytest.approx(0.005) for f in sink.frames[1:])
    assert sink.ended[0].late_ticks == 0
    assert sink.ended[0].max_lateness == pytest.approx(0.005)


async def test_clear_drops_everything_and_reports_the_exact_position(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(8000))
    clock.advance(0.06 + 9 * 0.02 + 0.001)  # ten frames out
    cut = s.clear()
    assert cut is not None and cut.interrupted
    assert cut.emitted_samples == 10 * F
    assert sink.ended == [cut]
    assert s.queued_samples == 0 and s.current_segment is None
    clock.advance(1.0)
    assert len(sink.frames) == 10
    # the next push is a new segment with its own hold
    await s.push(ramp(F))
    s.flush()
    clock.advance(0.1)
    assert sink.frames[-1].segment == 1
    assert s.stats.segments == 2 and s.stats.interrupted_segments == 1


async def test_clear_while_holding_reports_nothing_to_the_sink(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(800))
    clock.advance(0.03)
    cut = s.clear()
    assert cut is not None and cut.emitted_samples == 0 and cut.first_frame_at is None
    clock.advance(1.0)
    assert sink.frames == [] and sink.events == []


async def test_push_waits_while_the_queue_is_over_its_bound(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, max_buffer_ms=100)
    await s.push(ramp(400))  # 50 ms: under the bound, returns at once
    task = asyncio.create_task(s.push(ramp(2000)))  # 300 ms queued
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.06 + 9 * 0.02 + 0.001)  # ten frames (200 ms) out: 100 ms left
    await asyncio.sleep(0)
    assert task.done()
    assert s.current_segment is not None
    assert s.current_segment.queue_high_water_ms == pytest.approx(300.0)


async def test_clear_releases_a_waiting_push_and_drops_its_audio(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, max_buffer_ms=100)
    task = asyncio.create_task(s.push(ramp(4000)))
    await asyncio.sleep(0)
    assert not task.done()
    s.clear()
    await asyncio.wait_for(task, 1.0)
    clock.advance(1.0)
    assert sink.frames == []


async def test_aclose_fails_waiting_and_later_pushes(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, max_buffer_ms=100)
    task = asyncio.create_task(s.push(ramp(4000)))
    await asyncio.sleep(0)
    await s.aclose()
    with pytest.raises(PacerClosedError):
        await task
    with pytest.raises(PacerClosedError):
        await s.push(ramp(10))


async def test_segments_queued_back_to_back_play_contiguously(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(800))
    s.flush()
    await s.push(ramp(800, start=900))
    s.flush()
    clock.advance(1.0)
    assert [f.segment for f in sink.frames] == [0] * 5 + [1] * 5
    assert np.allclose(np.diff(sink.times()), 0.02, atol=1e-9)
    assert [e[0] for e in sink.events] == ["start", "end", "start", "end"]


async def test_delay_hold_learns_the_start_delay_it_would_have_needed(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, adaptive_hold=AdaptiveHold(initial=0.06, strategy="delay"))

    async def stalled_reply() -> None:
        await s.push(ramp(400))  # 50 ms, then the model stalls 195 ms
        clock.advance(0.195)
        await s.push(ramp(1600))
        s.flush()
        clock.advance(1.005)  # the next reply starts on the grid again

    await stalled_reply()
    first = sink.ended[0]
    assert first.hold == pytest.approx(0.06)
    assert first.underruns == 1
    # frame 2 needed the second chunk, due 40 ms after the start: hold 195 - 40 = 155 ms
    assert first.needed_hold == pytest.approx(0.155)
    await stalled_reply()
    second = sink.ended[1]
    assert second.hold == pytest.approx(0.155)
    assert second.underruns == 0
    assert s.stats.holds == pytest.approx([0.06, 0.155])


async def test_delay_hold_is_capped(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    hold = AdaptiveHold(initial=0.06, max_hold=0.1, strategy="delay")
    s = stream(sink, ticker, adaptive_hold=hold)
    await s.push(ramp(400))
    clock.advance(0.5)
    await s.push(ramp(400))
    s.flush()
    clock.advance(1.0)
    assert sink.ended[0].needed_hold == pytest.approx(0.46)
    assert hold.rule().hold == pytest.approx(0.1)


async def test_cover_starts_once_the_queued_audio_covers_the_learned_stall(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)  # adaptive by default, "cover" strategy
    # reply 1 (hold 60 ms): 50 ms, a 195 ms stall, the rest
    await s.push(ramp(400))
    clock.advance(0.195)
    await s.push(ramp(1600))
    s.flush()
    clock.advance(1.005)
    assert sink.ended[0].longest_stall == pytest.approx(0.195)
    assert sink.ended[0].underruns == 1

    # reply 2 opens with 250 ms of audio: it covers the stall, so it starts at once
    t = clock.now()
    await s.push(ramp(2000))
    clock.advance(0.001)
    second = s.current_segment
    assert second is not None and second.cover == pytest.approx(0.195)
    assert second.first_frame_at == pytest.approx(t)
    assert second.hold == 0.0 and second.hold_limit == pytest.approx(0.25)
    s.flush()
    clock.advance(1.0)

    # reply 3 opens short: it waits until 195 ms are queued (at +120 ms here) ...
    t = to_grid(clock, ticker)
    await s.push(ramp(800))
    clock.advance(0.12)
    await s.push(ramp(800))
    clock.advance(0.001)
    assert sink.ended[-1].index == 1
    third = s.current_segment
    assert third is not None and third.first_frame_at == pytest.approx(t + 0.12)
    assert third.hold == pytest.approx(0.12)
    s.flush()
    clock.advance(1.0)

    # ... and reply 4 never covers it: it starts when max_hold (250 ms) is up
    t = to_grid(clock, ticker)
    await s.push(ramp(400))
    clock.advance(0.3)
    fourth = s.current_segment
    assert fourth is not None and fourth.first_frame_at == pytest.approx(t + 0.25)
    assert fourth.hold == pytest.approx(0.25)


async def test_fixed_hold_when_not_adaptive(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker, prebuffer_ms=80, adaptive_hold=False)
    for _ in range(2):
        await s.push(ramp(400))
        clock.advance(0.3)
        await s.push(ramp(400))
        s.flush()
        clock.advance(1.0)
    assert s.stats.holds == pytest.approx([0.08, 0.08])


async def test_pause_holds_frames_without_counting_underruns(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(1600))
    s.flush()
    clock.advance(0.05)  # frames .00 .02 .04
    s.pause()
    clock.advance(0.5)
    assert len(sink.frames) == 3
    s.resume()  # at .55, on a fresh anchor
    clock.advance(0.5)
    assert sink.frames[3].at == pytest.approx(T0 + 0.55)
    assert len(sink.frames) == 10
    assert sink.ended[0].underruns == 0 and sink.ended[0].late_ticks == 0
    np.testing.assert_array_equal(sink.content(), ramp(1600))


async def test_ten_ms_frames(clock: VirtualClock, ticker: Ticker, sink: RecordingSink) -> None:
    s = PacedStream(sink, sample_rate=48000, frame_ms=10, ticker=ticker)
    await s.push(ramp(4800 + 7))
    s.flush()
    clock.advance(1.0)
    assert all(len(f.pcm) == 480 for f in sink.frames)
    assert np.allclose(np.diff(sink.times()), 0.01, atol=1e-9)
    assert sink.frames[-1].content == 7


async def test_wait_idle_returns_once_everything_was_sent(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    await s.push(ramp(800))
    s.flush()
    waiter = asyncio.create_task(s.wait_idle())
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(1.0)
    await asyncio.wait_for(waiter, 1.0)


async def test_on_stats_sees_every_segment(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    seen: list[int] = []
    s = stream(sink, ticker, on_stats=lambda st: seen.append(st.index))
    await s.push(ramp(400))
    s.flush()
    clock.advance(0.5)
    await s.push(ramp(400))
    s.clear()
    assert seen == [0, 1]
    assert [st.index for st in s.history] == [0, 1]


@pytest.mark.parametrize(
    ("pcm", "message"),
    [
        (b"\x00\x01\x02", "even number of bytes"),
        (np.zeros(10, dtype=np.float32), "int16"),
        (np.zeros((10, 2), dtype=np.int16), "1-D"),
    ],
)
async def test_bad_audio_is_refused_clearly(
    ticker: Ticker, sink: RecordingSink, pcm: object, message: str
) -> None:
    s = stream(sink, ticker)
    with pytest.raises(ValueError, match=message):
        await s.push(pcm)  # type: ignore[arg-type]
    assert s.queued_samples == 0


@pytest.mark.parametrize(
    "kw",
    [
        {"sample_rate": 8001},
        {"sample_rate": 8000, "frame_ms": 15},
        {"sample_rate": 8000, "lead_ms": 25},
        {"sample_rate": 8000, "prebuffer_ms": -1},
        {"sample_rate": 8000, "max_buffer_ms": 0},
    ],
)
def test_bad_settings_are_refused(ticker: Ticker, sink: RecordingSink, kw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PacedStream(sink, ticker=ticker, **kw)  # type: ignore[arg-type]


async def test_bytes_are_accepted_and_not_copied_twice(
    clock: VirtualClock, ticker: Ticker, sink: RecordingSink
) -> None:
    s = stream(sink, ticker)
    audio = ramp(F * 2)
    await s.push(audio.tobytes())
    await s.push(bytearray(audio.tobytes()))
    s.flush()
    clock.advance(0.5)
    np.testing.assert_array_equal(sink.content(), np.concatenate([audio, audio]))


async def test_streams_on_one_ticker_do_not_disturb_each_other(
    clock: VirtualClock, ticker: Ticker
) -> None:
    sinks = [RecordingSink(clock) for _ in range(3)]
    streams = [stream(k, ticker) for k in sinks]
    await streams[0].push(ramp(1600))
    with pytest.raises(ValueError):
        await streams[1].push(b"\x01")  # odd: refused ...
    streams[0].flush()
    clock.advance(0.03)
    await streams[2].push(ramp(800))
    streams[2].clear()  # ... and a barge-in on another stream
    clock.advance(1.0)
    np.testing.assert_array_equal(sinks[0].content(), ramp(1600))
    assert np.allclose(np.diff(sinks[0].times()), 0.02, atol=1e-9)
    assert sinks[1].frames == [] and sinks[2].frames == []
