"""The real codecs: μ-law band-limits to 4 kHz; Opus keeps the band and adds its delay."""

from __future__ import annotations

import numpy as np
import pytest

from lab.align import align
from lab.codecs import OPUS_RATE, opus_roundtrip, ulaw_roundtrip
from lab.pcm import FloatArray, as_float, to_int16
from tests.lab.conftest import level_db, tone


def test_ulaw_passes_telephone_band_and_removes_the_rest() -> None:
    low = ulaw_roundtrip(to_int16(tone(1000, 24000)), 24000)
    assert len(low) == 8000
    assert level_db(as_float(low)[400:-400]) == pytest.approx(level_db(tone(1000, 8000)), abs=0.3)
    high = ulaw_roundtrip(to_int16(tone(6000, 24000)), 24000)
    assert level_db(as_float(high)[400:-400]) < -70


def test_opus_decodes_at_48k_with_its_codec_delay(noisy_speech: FloatArray) -> None:
    x = to_int16(noisy_speech)
    y = opus_roundtrip(x, 24000)
    assert y.dtype == np.int16
    assert abs(len(y) - 2 * len(x)) <= OPUS_RATE * 0.03
    pair = align(x, 24000, y, OPUS_RATE)
    assert 0.005 < pair.delay_s < 0.008  # ~312 samples of pre-skip, ~6.5 ms
    assert np.corrcoef(pair.reference, pair.degraded)[0, 1] > 0.9


def test_opus_keeps_a_tone_above_7_khz() -> None:
    y = opus_roundtrip(to_int16(tone(7500, 24000)), 24000)
    assert level_db(as_float(y)[4800:-4800]) == pytest.approx(level_db(tone(7500, 48000)), abs=1.5)


def test_opus_bitrate_is_applied() -> None:
    # A lower target rate must cost quality on wideband noise.
    rng = np.random.default_rng(1)
    x = to_int16(rng.standard_normal(24000) * 0.1)
    errors = []
    for bitrate in (12000, 64000):
        pair = align(x, 24000, opus_roundtrip(x, 24000, bitrate=bitrate), OPUS_RATE)
        errors.append(level_db(pair.degraded - pair.reference))
    assert errors[0] > errors[1] + 3
