"""Real speech for the simulator's replies: espeak-ng through ctypes, resampled to 24 kHz.

The ``espeakng-loader`` wheel bundles ``libespeak-ng.so`` and its voice data, so this works
after a plain ``pip install`` with no root and no network. espeak-ng synthesises at 22,050 Hz;
the Realtime protocol speaks PCM16 at 24 kHz, so the result goes through soxr
(``trunkline.resample``).

espeak-ng also reports where each word starts in the audio. The simulator uses those marks to
send each word's transcript delta with the audio chunk that contains it, as the real service
interleaves transcript and audio.

The library is a process-wide singleton and not thread-safe: one lock serialises synthesis,
which runs in a worker thread so it never stalls the event loop. Replies come from a small
script, so results are cached by text.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np
import numpy.typing as npt

from trunkline.resample import resample

#: Output rate of the Realtime protocol.
SAMPLE_RATE = 24000

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_VOICE = b"en-us"


class _EspeakEvent(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


class TTSError(RuntimeError):
    """espeak-ng could not be loaded or refused to synthesise."""


@dataclass(frozen=True)
class Word:
    """A word of the reply text and where it starts in the audio."""

    text: str
    start_s: float


@dataclass(frozen=True)
class Speech:
    """A spoken reply: mono PCM16 at 24 kHz and its words in order."""

    text: str
    pcm: npt.NDArray[np.int16]
    words: tuple[Word, ...]

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / SAMPLE_RATE


class _Espeak:
    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise TTSError(f"espeak_Initialize failed ({rate}) with data at {data.decode()}")
        self.rate = int(rate)
        if self._lib.espeak_SetVoiceByName(_VOICE) != 0:
            raise TTSError(f"espeak-ng has no voice {_VOICE.decode()}")
        self._chunks: list[npt.NDArray[np.int16]] = []
        self._marks: list[tuple[int, int, int]] = []
        # keep a reference: espeak calls it from C for as long as the library lives
        self._callback = _SynthCallback(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(
        self,
        wav: ctypes._Pointer[ctypes.c_short],
        count: int,
        events: ctypes._Pointer[_EspeakEvent],
    ) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._marks.append((ev.text_position, ev.length, ev.audio_position))
            i += 1
        return 0

    def synth(self, text: str) -> tuple[npt.NDArray[np.int16], list[tuple[int, int, int]]]:
        self._chunks, self._marks = [], []
        data = text.encode("utf-8")
        rc = self._lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
        )
        if rc != 0:
            raise TTSError(f"espeak_Synth failed ({rc}) for {text!r}")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        return pcm, self._marks


_lock = threading.Lock()


@functools.cache
def _engine() -> _Espeak:
    return _Espeak()


@functools.lru_cache(maxsize=64)
def synthesize(text: str) -> Speech:
    """Speak ``text`` (blocking; cached). Call it through ``asyncio.to_thread`` from a loop."""
    with _lock:
        engine = _engine()
        pcm, marks = engine.synth(text)
        rate = engine.rate
    return Speech(text=text, pcm=resample(pcm, rate, SAMPLE_RATE), words=_words(text, marks))


def _words(text: str, marks: list[tuple[int, int, int]]) -> tuple[Word, ...]:
    """Cut ``text`` at each word mark so the pieces concatenate back to ``text`` exactly.

    espeak-ng counts character positions from 1 in the text it was given; whitespace and
    punctuation between marks stay attached to the preceding word.
    """
    starts: list[tuple[int, float]] = []
    for position, _length, audio_ms in marks:
        index = min(max(position - 1, 0), len(text))
        if not starts or index > starts[-1][0]:
            starts.append((index, audio_ms / 1000))
    if not starts:
        return (Word(text, 0.0),) if text else ()
    starts[0] = (0, starts[0][1])
    bounds = [index for index, _ in starts] + [len(text)]
    return tuple(
        Word(text[bounds[i] : bounds[i + 1]], start_s) for i, (_, start_s) in enumerate(starts)
    )
