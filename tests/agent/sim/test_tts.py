"""espeak-ng speech for replies: real audio at 24 kHz with word timings."""

from __future__ import annotations

import numpy as np

from agent.sim import tts


def test_speaks_text_as_24k_speech_with_words_in_order() -> None:
    text = "Hello, thanks for calling. How can I help you today?"
    speech = tts.synthesize(text)
    assert speech.pcm.dtype == np.int16
    # roughly 2.5–4.5 s at espeak's default rate; not silence, not clipped to the rail
    assert 2.0 < speech.duration_s < 5.0
    rms = np.sqrt(np.mean(speech.pcm.astype(np.float64) ** 2))
    assert 1000 < rms < 20000
    assert "".join(w.text for w in speech.words) == text
    assert [w.text.strip(" ,.?") for w in speech.words] == text.replace(",", "").replace(
        "?", ""
    ).replace(".", "").split()
    starts = [w.start_s for w in speech.words]
    assert starts[0] == 0.0 and starts == sorted(starts) and starts[-1] < speech.duration_s


def test_speech_energy_sits_in_the_voice_band() -> None:
    speech = tts.synthesize("The quick brown fox jumps over the lazy dog.")
    spectrum = np.abs(np.fft.rfft(speech.pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(speech.pcm), 1 / tts.SAMPLE_RATE)
    voice = spectrum[(freqs > 100) & (freqs < 4000)].sum()
    assert voice / spectrum.sum() > 0.8


def test_longer_text_takes_longer_and_results_are_cached() -> None:
    short = tts.synthesize("Yes.")
    long = tts.synthesize("Yes, I can certainly help you with that request right away.")
    assert long.duration_s > 3 * short.duration_s
    assert tts.synthesize("Yes.") is short


def test_non_ascii_text_keeps_its_words() -> None:
    text = "Café au lait, s'il vous plaît."
    speech = tts.synthesize(text)
    assert "".join(w.text for w in speech.words) == text
    assert speech.duration_s > 0.5


def test_empty_text_is_silent_and_wordless() -> None:
    speech = tts.synthesize("")
    assert speech.words == ()
    assert not np.any(np.abs(speech.pcm) > 100)
