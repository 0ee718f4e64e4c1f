"""Each path's chain, and the shape of the published comparison on wideband speech."""

from __future__ import annotations

import pytest

from lab.bandwidth import welch_bandwidth
from lab.chains import MODEL_RATE, ChainOutput, run_chain
from lab.pcm import FloatArray, to_int16
from trunkline.paths import CALL_PATHS, CallPath


@pytest.fixture(scope="module")
def outputs(noisy_speech: FloatArray) -> dict[CallPath, ChainOutput]:
    return {p: run_chain(p, to_int16(noisy_speech)) for p in CALL_PATHS}


def test_rates_per_path(outputs: dict[CallPath, ChainOutput]) -> None:
    assert {p: (o.rate, o.band_rate) for p, o in outputs.items()} == {
        "twilio-ws": (8000, 8000),
        "sip": (48000, 8000),
        "webrtc": (48000, MODEL_RATE),
    }


def test_published_shape_webrtc_wideband_telephony_narrowband(
    noisy_speech: FloatArray, outputs: dict[CallPath, ChainOutput]
) -> None:
    assert welch_bandwidth(noisy_speech, MODEL_RATE) > 9000  # the input really is wideband
    bandwidth = {p: welch_bandwidth(o.pcm, o.rate) for p, o in outputs.items()}
    assert bandwidth["webrtc"] > 7000
    assert bandwidth["twilio-ws"] < 4000
    assert bandwidth["sip"] < 4000
