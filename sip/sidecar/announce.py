"""Speaking to a caller ourselves, once their media stream runs: an apology, a goodbye.

Once Twilio streams, ``<Say>`` is no longer possible, so the words are audio we send: rendered
once per process with the bundled espeak-ng voice (the simulator's TTS), sent into Twilio's
buffer in 20 ms frames with a mark behind them. The caller has heard them only when that mark
comes back; closing the stream earlier would end ``<Connect>`` and cut the sentence off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from agent.sim import tts
from sip import g711
from sip.sidecar.link import TwilioLink
from sip.twilio.protocol import FRAME_BYTES, SAMPLE_RATE
from trunkline.resample import resample

logger = logging.getLogger(__name__)

#: Beyond the words' own length, how long to wait for Twilio to say it has played them.
PLAYOUT_MARGIN_S: Final = 2.0


def render(text: str) -> bytes:
    """``text`` spoken as 8 kHz μ-law (blocking: run it once, at start)."""
    speech = tts.synthesize(text)
    return g711.encode(resample(speech.pcm, tts.SAMPLE_RATE, SAMPLE_RATE))


async def play(link: TwilioLink, ulaw: bytes, mark: str) -> bool:
    """Send ``ulaw`` and wait until the caller has heard it; False if Twilio never said so."""
    played = asyncio.get_running_loop().create_future()

    def on_mark(name: str) -> None:
        if name == mark and not played.done():
            played.set_result(None)

    link.add_mark_listener(on_mark)
    for start in range(0, len(ulaw), FRAME_BYTES):
        link.send_media(ulaw[start : start + FRAME_BYTES])
    link.send_mark(mark)
    try:
        async with asyncio.timeout(len(ulaw) / SAMPLE_RATE + PLAYOUT_MARGIN_S):
            await played
    except TimeoutError:
        logger.warning("call %s: Twilio did not confirm playback of %s", link.call_id, mark)
        return False
    return True
