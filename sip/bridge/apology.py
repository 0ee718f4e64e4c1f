"""What the caller hears when the room fails after the webhook already answered.

By then Twilio is streaming and ``<Say>`` is no longer possible, so the apology is audio we
send ourselves: rendered once per process with the bundled espeak-ng voice (the simulator's TTS),
sent into Twilio's buffer in 20 ms frames with a mark behind it, and the stream is closed only
once that mark comes back — closing earlier would end ``<Connect>`` and cut the sentence.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from agent.sim import tts
from sip import g711
from sip.resample import resample
from sip.sidecar.link import TwilioLink
from sip.twilio.protocol import FRAME_BYTES, SAMPLE_RATE

logger = logging.getLogger(__name__)

APOLOGY_TEXT: Final = (
    "Sorry, our assistant is not available right now. Please try again in a few minutes."
)
"""Said by Twilio at the webhook, or by us once the stream runs: the same words either way."""
APOLOGY_MARK: Final = "bridge:apology"
#: Beyond the apology's own length, how long to wait for Twilio to say it has played.
PLAYOUT_MARGIN_S: Final = 2.0


def render(text: str = APOLOGY_TEXT) -> bytes:
    """``text`` spoken as 8 kHz μ-law (blocking: run it in a thread, once)."""
    speech = tts.synthesize(text)
    return g711.encode(resample(speech.pcm, tts.SAMPLE_RATE, SAMPLE_RATE))


async def play(link: TwilioLink, ulaw: bytes) -> bool:
    """Send ``ulaw`` and wait until the caller has heard it; False if Twilio never said so."""
    played = asyncio.get_running_loop().create_future()

    def on_mark(name: str) -> None:
        if name == APOLOGY_MARK and not played.done():
            played.set_result(None)

    link.add_mark_listener(on_mark)
    for start in range(0, len(ulaw), FRAME_BYTES):
        link.send_media(ulaw[start : start + FRAME_BYTES])
    link.send_mark(APOLOGY_MARK)
    try:
        async with asyncio.timeout(len(ulaw) / SAMPLE_RATE + PLAYOUT_MARGIN_S):
            await played
    except TimeoutError:
        logger.warning("call %s: Twilio did not confirm the apology's playback", link.call_id)
        return False
    return True
