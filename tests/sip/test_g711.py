"""μ-law tables against the reference behaviour (stdlib audioop as an oracle on ≤ 3.12)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip import g711

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="audioop (the oracle) left in 3.13")
def test_bit_exact_with_audioop_on_every_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    pcm = ALL_INT16.tobytes()
    assert g711.encode(ALL_INT16) == audioop.lin2ulaw(pcm, 2)
    codes = bytes(range(256))
    assert g711.decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def test_known_codes() -> None:
    assert g711.encode(np.array([0], dtype=np.int16)) == bytes([g711.ULAW_SILENCE])
    assert g711.decode(bytes([0xFF]))[0] == 0
    assert g711.decode(bytes([0x00]))[0] == -32124
    assert g711.decode(bytes([0x80]))[0] == 32124


def test_decode_encode_is_identity_on_codes() -> None:
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F and 0xFF both decode to 0
    assert g711.encode(g711.decode(codes)) == codes


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400))
def test_roundtrip_error_is_within_segment_step(samples: list[int]) -> None:
    pcm = np.array(samples, dtype=np.int16)
    back = g711.decode(g711.encode(pcm)).astype(np.int32)
    err = np.abs(back - pcm.astype(np.int32))
    # Quantisation step doubles per segment; the largest is 1024 at full scale (half-step 512)
    # plus the clip of the top 128 codes' range.
    bound = np.maximum(8, np.abs(pcm.astype(np.int32)) // 16 + 8)
    assert np.all(err <= np.maximum(bound, 700))
