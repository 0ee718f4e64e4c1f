"""What the caller hears when the room fails after the webhook already answered.

By then Twilio is streaming and ``<Say>`` is no longer possible: the apology is audio the
bridge sends itself (``sip.sidecar.announce``), and the stream closes once Twilio says the
caller has heard it.
"""

from __future__ import annotations

from typing import Final

from sip.sidecar import announce
from sip.sidecar.link import TwilioLink

APOLOGY_TEXT: Final = (
    "Sorry, our assistant is not available right now. Please try again in a few minutes."
)
"""Said by Twilio at the webhook, or by us once the stream runs: the same words either way."""
APOLOGY_MARK: Final = "bridge:apology"


def render(text: str = APOLOGY_TEXT) -> bytes:
    """``text`` spoken as 8 kHz μ-law (blocking: run it in a thread, once)."""
    return announce.render(text)


async def play(link: TwilioLink, ulaw: bytes) -> bool:
    """Send the apology and wait until the caller has heard it; False if Twilio never said so."""
    return await announce.play(link, ulaw, APOLOGY_MARK)
