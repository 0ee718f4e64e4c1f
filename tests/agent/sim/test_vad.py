"""Server VAD: Silero's speech probability on phone-line speech, and the server_vad turn rules."""

from __future__ import annotations

import numpy as np
import pytest

from agent.sim.turns import HYSTERESIS, SpeechStarted, SpeechStopped, TurnDetector, VadConfig
from agent.sim.vad import SpeechScorer, Window

from .harness import RATE, speech_clip

WINDOW_S = 0.032


def line_noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(seconds * RATE)) * 32768 * 10 ** (dbfs / 20)


def test_silero_hears_speech_and_not_line_noise() -> None:
    clip = speech_clip().astype(np.float64)
    noise = line_noise(2.0, -40)
    track = np.concatenate([noise, clip + line_noise(len(clip) / RATE, -40, 1), noise])
    pcm = np.clip(track, -32768, 32767).astype(np.int16)
    scorer = SpeechScorer(RATE)
    windows = [w for i in range(0, len(pcm), 2400) for w in scorer.push(pcm[i : i + 2400])]
    assert scorer.window_s == pytest.approx(WINDOW_S)
    assert windows[-1].end_s == pytest.approx(len(pcm) / RATE, abs=WINDOW_S + 0.03)
    probs = np.array([w.probability for w in windows])
    times = np.array([w.end_s for w in windows])
    in_noise = (times < 1.9) | (times > 2.1 + len(clip) / RATE)
    assert probs[in_noise].max() < 0.5
    in_speech = (times > 2.5) & (times < 1.5 + len(clip) / RATE)
    assert np.mean(probs[in_speech] > 0.5) > 0.6


def test_scorer_state_is_per_instance() -> None:
    pcm = speech_clip()
    a, b = SpeechScorer(RATE), SpeechScorer(RATE)
    first = [w.probability for w in a.push(pcm)]
    assert [w.probability for w in b.push(pcm)] == first


def windows(probabilities: list[float]) -> list[Window]:
    return [Window(end_s=(i + 1) * WINDOW_S, probability=p) for i, p in enumerate(probabilities)]


def run(probabilities: list[float], config: VadConfig | None = None) -> list[object]:
    detector = TurnDetector(config or VadConfig(), WINDOW_S)
    return list(detector.feed(windows(probabilities)))


def test_turn_starts_at_threshold_with_prefix_padding() -> None:
    events = run([0.1] * 40 + [0.9] * 10)
    onset_ms = round(40 * WINDOW_S * 1000)
    assert events == [SpeechStarted(onset_ms=onset_ms, audio_start_ms=onset_ms - 300)]


def test_prefix_padding_does_not_go_before_the_session_start() -> None:
    assert run([0.9]) == [SpeechStarted(onset_ms=0, audio_start_ms=0)]


def test_turn_stops_after_the_silence_duration_including_it() -> None:
    speech, silence = [0.9] * 20, [0.05] * 30
    events = run([0.0] * 5 + speech + silence)
    silence_start_ms = 25 * WINDOW_S * 1000
    assert events[1:] == [SpeechStopped(audio_end_ms=round(silence_start_ms + 500))]


def test_short_pauses_do_not_end_the_turn() -> None:
    pause = [0.05] * 12  # 384 ms < 500 ms
    events = run([0.9] * 10 + pause + [0.9] * 10 + [0.0] * 20)
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]


def test_dips_within_the_hysteresis_are_still_speech() -> None:
    dip = [0.5 - HYSTERESIS / 2] * 30
    assert [type(e) for e in run([0.9] * 5 + dip)] == [SpeechStarted]


def test_configured_threshold_and_silence_are_honoured() -> None:
    config = VadConfig(threshold=0.8, prefix_padding_ms=0, silence_duration_ms=200)
    assert run([0.7] * 10, config) == []
    events = run([0.9] * 5 + [0.1] * 7, config)
    assert events == [
        SpeechStarted(onset_ms=0, audio_start_ms=0),
        SpeechStopped(audio_end_ms=round(5 * WINDOW_S * 1000 + 200)),
    ]


def test_reset_forgets_a_turn_in_progress() -> None:
    detector = TurnDetector(VadConfig(), WINDOW_S)
    list(detector.feed(windows([0.9] * 3)))
    assert detector.speaking
    detector.reset()
    assert not detector.speaking
    assert list(detector.feed(windows([0.0] * 40))) == []
