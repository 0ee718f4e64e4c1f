"""The caller's clips: trimmed to the voice whatever the room tone, framed as Twilio does."""

from __future__ import annotations

import numpy as np
import pytest

from lab.caller.audio import LineNoise, speech_frames, trim_to_speech


@pytest.mark.parametrize("floor_dbfs", [-80.0, -50.0])
def test_trim_finds_the_voice_above_room_tone(floor_dbfs: float) -> None:
    rate = 16000
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 32768 * 10 ** (floor_dbfs / 20), rate * 2)
    t = np.arange(rate) / rate
    voice = 8000 * np.sin(2 * np.pi * 300 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    signal = noise.copy()
    signal[8000:24000] += voice  # 0.5 s .. 1.5 s
    trimmed = trim_to_speech(np.clip(signal, -32768, 32767).astype(np.int16), rate)
    assert len(trimmed) == pytest.approx(16000, abs=2 * 160)


def test_frames_are_20ms_of_ulaw_with_padded_tail() -> None:
    pcm = np.zeros(8000 + 50, dtype=np.int16)  # 1 s + a partial frame at 8 kHz
    frames = speech_frames(pcm, 8000)
    assert len(frames) == 51 and all(len(f) == 160 for f in frames)
    assert frames[-1] == b"\xff" * 160


def test_line_noise_is_quiet_and_seeded() -> None:
    a, b = LineNoise(seed=3), LineNoise(seed=3)
    assert a.frame() == b.frame()
    from sip import g711

    level = np.sqrt(np.mean(g711.decode(LineNoise(-60).frame()).astype(float) ** 2))
    assert 10 < level < 100  # −60 dBFS is ~33 in PCM16 units; μ-law keeps it
