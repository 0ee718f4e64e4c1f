"""What each caller path does to the agent's audio, with the real codecs.

The model speaks 24 kHz PCM16. ``twilio-ws``: our sidecar resamples to 8 kHz and μ-law encodes
for Twilio. ``sip``: the PSTN leg is 8 kHz μ-law, and LiveKit SIP carries that in the room as
48 kHz Opus (the form a room recording of a SIP participant has). ``webrtc``: the agent's
track goes out as 48 kHz Opus. Transport timing is not modelled here — only codecs and rates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from lab.codecs import OPUS_BITRATE, OPUS_RATE, ULAW_RATE, opus_roundtrip, ulaw_roundtrip
from lab.pcm import Int16Array
from trunkline.paths import CallPath

#: The rate the agent's realtime model produces.
MODEL_RATE: Final = 24000


@dataclass(frozen=True)
class ChainOutput:
    pcm: Int16Array
    rate: int
    #: The lowest rate on the way: the band the path can carry at most is half of it.
    band_rate: int


def _twilio_ws(pcm: Int16Array, bitrate: int) -> ChainOutput:
    return ChainOutput(ulaw_roundtrip(pcm, MODEL_RATE), ULAW_RATE, ULAW_RATE)


def _sip(pcm: Int16Array, bitrate: int) -> ChainOutput:
    pstn = ulaw_roundtrip(pcm, MODEL_RATE)
    return ChainOutput(opus_roundtrip(pstn, ULAW_RATE, bitrate=bitrate), OPUS_RATE, ULAW_RATE)


def _webrtc(pcm: Int16Array, bitrate: int) -> ChainOutput:
    return ChainOutput(opus_roundtrip(pcm, MODEL_RATE, bitrate=bitrate), OPUS_RATE, MODEL_RATE)


_CHAINS: Final[dict[CallPath, Callable[[Int16Array, int], ChainOutput]]] = {
    "twilio-ws": _twilio_ws,
    "sip": _sip,
    "webrtc": _webrtc,
}


def run_chain(path: CallPath, pcm: Int16Array, *, opus_bitrate: int = OPUS_BITRATE) -> ChainOutput:
    """Pass 24 kHz model audio through ``path``'s codecs; returns what the far end decodes."""
    return _CHAINS[path](pcm, opus_bitrate)


#: What a caller's receiver decodes of the agent's 24 kHz audio, by the codecs on its way:
#: ``ulaw`` the sidecar's μ-law (twilio-ws local mode); ``opus-ulaw`` the agent's Opus track in
#: the room, decoded and μ-law-encoded at 8 kHz by the Twilio bridge or livekit-sip;
#: ``opus`` the Opus track itself, decoded at 48 kHz (webrtc).
Receiver = Literal["ulaw", "opus-ulaw", "opus"]


def _receiver(receiver: Receiver, pcm: Int16Array, bitrate: int) -> ChainOutput:
    if receiver == "ulaw":
        return ChainOutput(ulaw_roundtrip(pcm, MODEL_RATE), ULAW_RATE, ULAW_RATE)
    room = opus_roundtrip(pcm, MODEL_RATE, bitrate=bitrate)
    if receiver == "opus":
        return ChainOutput(room, OPUS_RATE, MODEL_RATE)
    return ChainOutput(ulaw_roundtrip(room, OPUS_RATE), ULAW_RATE, ULAW_RATE)


def to_receiver(
    receiver: Receiver, pcm: Int16Array, *, opus_bitrate: int = OPUS_BITRATE
) -> ChainOutput:
    """24 kHz model audio as ``receiver`` decodes it with a flawless transport."""
    return _receiver(receiver, pcm, opus_bitrate)
