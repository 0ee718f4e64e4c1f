"""What a caller heard, judged against the clean reply: known gaps, clicks and barge-ins."""

from __future__ import annotations

import numpy as np
import pytest

from lab.chains import ChainOutput, run_chain
from lab.heard import HeardTurn, heard_figures, squelch, trim_quiet, trim_silence
from lab.pcm import FloatArray, Int16Array, to_int16

RATE = 8000


@pytest.fixture(scope="module")
def reference(clean_speech: FloatArray) -> ChainOutput:
    """Clean 24 kHz speech-like audio through the twilio-ws chain: 8 kHz after μ-law."""
    return run_chain("twilio-ws", to_int16(clean_speech))


def turn(audio: Int16Array, n: int = 1, **kw: object) -> HeardTurn:
    return HeardTurn(call_id="CA1", turn=n, rate=RATE, audio=audio, **kw)  # type: ignore[arg-type]


def with_gap(pcm: Int16Array, at_s: float, seconds: float) -> Int16Array:
    i = round(at_s * RATE)
    return np.concatenate([pcm[:i], np.zeros(round(seconds * RATE), np.int16), pcm[i:]])


def test_trim_silence_keeps_first_to_last_sound() -> None:
    pcm = np.array([0, 0, 3, 0, -2, 0], dtype=np.int16)
    assert trim_silence(pcm).tolist() == [3, 0, -2]
    assert len(trim_silence(np.zeros(5, np.int16))) == 0


def test_a_flawless_path_has_no_gaps_and_the_clean_click_rate(reference: ChainOutput) -> None:
    h = heard_figures([turn(reference.pcm), turn(reference.pcm, 2)], lambda _t: reference)
    loud = trim_quiet(reference.pcm, RATE)
    assert h.turns == 2 and h.heard_s == pytest.approx(2 * len(loud) / RATE)
    assert h.gaps == 0 and h.gap_ms == 0 and h.receiver_gaps == 0
    assert h.clicks_ratio == pytest.approx(1.0)
    assert h.bandwidth_welch_hz is not None and 3000 < h.bandwidth_welch_hz < 4000
    assert h.bandwidth_fft_bin_hz is not None and h.bandwidth_fft_bin_hz % 31.25 == 0
    assert h.barge_ins == 0 and h.barge_in_clear_ms is None


def test_inserted_silence_is_counted_and_adds_clicks(reference: ChainOutput) -> None:
    # 1.3 s and 2.5 s are inside the synthetic speech's syllables, not its own pauses
    gapped = with_gap(with_gap(reference.pcm, 2.5, 0.060), 1.3, 0.040)
    h = heard_figures([turn(gapped, receiver_gaps=1), turn(reference.pcm, 2)], lambda _t: reference)
    assert h.gaps == 2 and h.gap_ms == pytest.approx(100.0)
    assert h.receiver_gaps == 1
    assert h.clicks_ratio is not None and h.clicks_ratio > 1.0  # each gap edge is a step


def test_each_turn_is_judged_against_its_own_reference(reference: ChainOutput) -> None:
    greeting = ChainOutput(reference.pcm[: RATE // 2], RATE, RATE)
    refs = {0: greeting, 1: reference}
    h = heard_figures([turn(greeting.pcm, 0), turn(reference.pcm, 1)], refs.__getitem__)
    assert h.turns == 2 and h.gaps == 0


def test_barge_ins_are_summarised_by_their_medians(reference: ChainOutput) -> None:
    turns = [
        turn(reference.pcm[:RATE], 1, barge_in_clear_ms=400.0, barge_in_cutoff_ms=380.0),
        turn(reference.pcm[:RATE], 2, barge_in_clear_ms=600.0, barge_in_cutoff_ms=590.0),
        turn(reference.pcm, 3),
    ]
    h = heard_figures(turns, lambda _t: reference)
    assert h.barge_ins == 2
    assert h.barge_in_clear_ms == pytest.approx(500.0)
    assert h.barge_in_cutoff_ms == pytest.approx(485.0)


def test_nothing_heard_gives_no_figures(reference: ChainOutput) -> None:
    h = heard_figures([turn(np.zeros(0, np.int16))], lambda _t: reference)
    assert h.turns == 0 and h.heard_s == 0
    assert h.bandwidth_welch_hz is None and h.clicks_per_min is None and h.clicks_ratio is None
    assert h.to_json()["clicks_ratio"] is None


def test_a_rate_other_than_the_chains_is_refused(reference: ChainOutput) -> None:
    wrong = HeardTurn(call_id="CA1", turn=1, rate=48000, audio=reference.pcm)
    with pytest.raises(ValueError, match="48000 Hz"):
        heard_figures([wrong], lambda _t: reference)


def test_quiet_blocks_are_silence_and_a_reply_is_cut_to_its_loud_part() -> None:
    rate = 8000  # 5 ms blocks of 40 samples
    noise = np.full(40, 8, np.int16)  # what a codec leaves of silence, or a bridge's hangover
    loud = np.full(40, 2000, np.int16)
    pcm = np.concatenate([noise, loud, noise, loud, noise, noise[:7]])
    squelched = squelch(pcm, rate)
    assert len(squelched) == len(pcm)
    assert not squelched[:40].any() and not squelched[-47:].any()  # the short last block too
    assert squelched[40:80].all() and not squelched[80:120].any()
    assert np.array_equal(trim_quiet(pcm, rate), pcm[40:160])  # the inside is kept as it was
    assert len(trim_quiet(np.concatenate([noise, noise]), rate)) == 0
