"""What a voice webhook answered, read the way Twilio acts on it — for the simulated caller.

Twilio executes a TwiML document's verbs in order until one takes the call somewhere: a
``<Connect><Stream>`` (the twilio-ws path), a ``<Dial><Sip>`` (the sip path of the one-number
split), a ``<Redirect>`` (another document), or the end of the document (hang up, after any
``<Say>``). The caller simulator follows the same way, so it can be handed to an existing
Programmable Voice app that redirects into the sidecar, and can see which path a call took.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qsl


class TwimlError(ValueError):
    """Not a TwiML document the simulator can act on."""


@dataclass(frozen=True)
class Stream:
    url: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SipDial:
    """``<Dial><Sip>``: what a SIP dialer needs to place the call as Twilio would."""

    uri: str
    """The SIP URI without its header part, e.g. ``sip:+15550100002@host;transport=tcp``."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict)
    """``X-`` headers Twilio adds to the INVITE (from the URI's query)."""
    action: str | None = None
    """Where Twilio reports the leg's end (``DialCallStatus``), relative to the document."""


@dataclass(frozen=True)
class Redirect:
    url: str


@dataclass(frozen=True)
class Hangup:
    said: str = ""
    """What ``<Say>`` told the caller first (an apology, a busy line), if anything."""


Answer = Stream | SipDial | Redirect | Hangup


def parse(body: str) -> Answer:
    """The verb that decides where the call goes; raises :class:`TwimlError`."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"the document is <{root.tag}>, not <Response>")
    said: list[str] = []
    for verb in root:
        if verb.tag == "Say":
            said.append((verb.text or "").strip())
        elif verb.tag == "Connect":
            stream = verb.find("Stream")
            if stream is None or not stream.get("url"):
                raise TwimlError("<Connect> without a <Stream url>")
            parameters = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
            return Stream(stream.get("url", ""), parameters)
        elif verb.tag == "Dial":
            return _dial(verb)
        elif verb.tag == "Redirect":
            if not (verb.text or "").strip():
                raise TwimlError("<Redirect> without a URL")
            return Redirect((verb.text or "").strip())
        elif verb.tag == "Hangup":
            break
    return Hangup(" ".join(s for s in said if s))


def _dial(verb: ET.Element) -> SipDial:
    sip = verb.find("Sip")
    if sip is None or not (sip.text or "").strip():
        raise TwimlError("only <Dial><Sip> is simulated (a number or client cannot be dialled)")
    uri, _, query = (sip.text or "").strip().partition("?")
    return SipDial(
        uri=uri,
        username=sip.get("username"),
        password=sip.get("password"),
        headers=dict(parse_qsl(query)),
        action=verb.get("action"),
    )
