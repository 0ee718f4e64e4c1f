"""TwiML the webhook answers with, built with the twilio SDK's ``VoiceResponse``.

``<Connect><Stream>`` is the only way to get a bidirectional media stream. Twilio rejects a
query string in the stream URL (error 31920), so call data travels as ``<Parameter>``s and
arrives in ``start.customParameters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from twilio.twiml.voice_response import Connect, Dial, Redirect, Say, VoiceResponse

STREAM_TOKEN_PARAM = "trunkline_stream_token"


def connect_stream(stream_url: str, parameters: Mapping[str, str]) -> str:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def apology(message: str) -> str:
    """Spoken when the agent cannot be reached, so the caller never gets dead air."""
    response = VoiceResponse()
    response.append(Say(message))
    response.hangup()
    return str(response)


def dial_sip(
    target: str, *, username: str, password: str, action: str, headers: Mapping[str, str]
) -> str:
    """Connect the call to a SIP endpoint (LiveKit SIP) with digest credentials; ``headers``
    travel as SIP ``X-`` headers (Twilio takes them from the URI's query). The caller hears
    ringing until the far end answers (``answerOnBridge``); Twilio then asks ``action`` how to
    go on, with ``DialCallStatus``."""
    response = VoiceResponse()
    dial = Dial(action=action, method="POST", answer_on_bridge=True)
    uri = f"{target}?{urlencode(headers)}" if headers else target
    dial.sip(uri, username=username, password=password)
    response.append(dial)
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def redirect(url: str) -> str:
    """Hand the call to another webhook (Twilio POSTs the call's parameters there)."""
    response = VoiceResponse()
    response.append(Redirect(url, method="POST"))
    return str(response)


def dial(number: str) -> str:
    """TwiML that transfers the call to ``number`` (used through a REST redirect)."""
    response = VoiceResponse()
    response.dial(number)
    return str(response)
