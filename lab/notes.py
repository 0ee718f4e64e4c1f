"""The prose of REPORT.md: how each figure was measured and how to read it.

Kept beside the code that measures, so a changed method and its explanation change together.
The bandwidth note quotes the run's own figures, so the explanation always matches the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.codec_table import ChainRow
from lab.codecs import OPUS_BITRATE

CHAIN_METHOD = f"""\
Each input is brought to 24 kHz PCM16 (the realtime model's output format) and passed through
each path's real codecs: **twilio-ws** soxr HQ to 8 kHz and G.711 μ-law; **sip** the same
8 kHz μ-law leg, then 48 kHz Opus as LiveKit carries a SIP participant in the room;
**webrtc** 48 kHz Opus. Opus is libopus through PyAV (20 ms frames, VoIP mode,
{OPUS_BITRATE // 1000} kbit/s unless `--opus-bitrate` says otherwise). Transport timing is not
modelled here; this table isolates what the codecs and rates do. The `source` row is the input
itself measured the same way: PESQ/STOI's ceiling and the signal's own click baseline.

- **delay**: cross-correlation peak after soxr rate matching (Opus adds ~6.5 ms).
- **PESQ-NB / PESQ-WB**: ITU-T P.862 via the `pesq` package at 8 / 16 kHz against the aligned
  24 kHz input; WB scores the band a telephony path cannot carry as lost.
- **STOI**: `pystoi`, aligned, at the higher of the two rates.
- **gaps**: runs of digital silence ≥ 10 ms with audio on both sides that the sent signal did
  not contain at that point (located by normalised cross-correlation). Zero on a clean chain.
- **clicks/min**: third-order difference above 8× a robust local scale (larger of the medians
  over the 10 ms before and after), events merged within 20 ms. Speech has its own sharp
  events, so read it against the `source` row, not against zero.
- **drops**: aligned 20 ms frames where the sent frame is active (within 40 dB of the loudest,
  above −60 dBFS) and the received one is > 30 dB lower, compared inside the path's band.
"""


def _span(values: Sequence[float], decimals: int = 0) -> str:
    lo, hi = min(values), max(values)
    if round(lo, decimals) == round(hi, decimals):
        return f"{lo:,.{decimals}f} Hz"
    return f"{lo:,.{decimals}f}–{hi:,.{decimals}f} Hz"


def bandwidth_note(rows: Sequence[ChainRow]) -> str:
    """Why the two bandwidth columns differ, with this run's figures."""
    tel = [r for r in rows if r.path in ("twilio-ws", "sip")]
    web = [r for r in rows if r.path == "webrtc"]
    figures = ""
    if tel and web:
        figures = (
            f"In this run the telephony paths measure {_span([r.bandwidth_welch_hz for r in tel])}"
            f" by Welch and {_span([r.bandwidth_fft_bin_hz for r in tel], 2)} by FFT-bin; webrtc "
            f"{_span([r.bandwidth_welch_hz for r in web])} by Welch and "
            f"{_span([r.bandwidth_fft_bin_hz for r in web], 2)} by FFT-bin.\n\n"
        )
    return f"""\
**99 % bandwidth** is the frequency below which 99 % of the spectral energy lies. Two methods
are shown and always named:

- **Welch** (ours): Welch PSD over the utterance (Hann, 32 ms segments, 50 % overlap), only the
  segments that carry speech (within 40 dB of the loudest and above −60 dBFS), cumulative
  power *interpolated* at 99 %. It describes the speech the caller hears.
- **FFT-bin** (to explain published figures): each 32 ms frame's rolloff is the first FFT bin
  whose cumulative magnitude reaches 99 %, no interpolation and no activity gate, and the
  figure is the median over frames.

{figures}Why they differ. A 32 ms FFT has bins 31.25 Hz apart at any rate, so FFT-bin figures
are multiples of 31.25 Hz — as are the published 8,438 Hz (bin 270) and ~3,969 Hz
(3,968.75 Hz, bin 127 of a 256-point FFT at 8 kHz, the top bin below Nyquist). A frame
holding only white noise spreads its energy evenly up to Nyquist, so its rolloff sits at the
top bins — the median over white-noise frames at 8 kHz is exactly 3,968.75 Hz — whatever the
speech did; without an activity gate, pauses, line noise
and μ-law quantisation noise pull the figure to the top of the band. A PSTN figure of
3,968.75 Hz therefore says the measurement was noise- or Nyquist-bound, not that speech
filled the band. Welch over active speech drops those frames and interpolates between bins,
so telephony paths land well below 4 kHz (soxr's anti-alias filter is −3 dB at 3.8 kHz and
−24 dB at 3.9 kHz). A wideband path stays near its source when the source's top band is
strong, as in the synthetic speech; when the top 1 % of the energy is spread thin at a low
level, as in the 16 kHz CMU ARCTIC clips, Opus's changes of a few dB up there move any 99 %
figure a lot — a limit of the figure, not a lost band (compare the spectrograms). What a path
keeps above 7 kHz shows only on wideband input: the ARCTIC clips stop at 8 kHz.
"""


def shape_check(rows: Sequence[ChainRow]) -> dict[str, bool]:
    """The published comparison's shape, per wideband input (source Welch above 7 kHz).

    True when webrtc stays above 7 kHz and both telephony paths stay below 4 kHz (Welch).
    """
    result = {}
    for speech in dict.fromkeys(r.speech for r in rows):
        by_path = {r.path: r.bandwidth_welch_hz for r in rows if r.speech == speech}
        if by_path.get("source", 0.0) <= 7000:
            continue
        result[speech] = (
            by_path["webrtc"] > 7000 and by_path["twilio-ws"] < 4000 and by_path["sip"] < 4000
        )
    return result
