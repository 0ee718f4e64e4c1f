"""TwiML the webhook answers with, built with the twilio SDK's ``VoiceResponse``.

``<Connect><Stream>`` is the only way to get a bidirectional media stream. Twilio rejects a
query string in the stream URL (error 31920), so call data travels as ``<Parameter>``s and
arrives in ``start.customParameters``.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Connect, Redirect, Say, VoiceResponse

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
