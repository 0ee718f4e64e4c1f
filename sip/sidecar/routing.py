"""One Twilio number, both telephony paths: the webhook chooses each call's.

The decision the product exists for — is the ``sip`` path worth it over ``twilio-ws`` for
*our* callers? — needs both paths on the same traffic. A number on an Elastic SIP trunk no
longer calls its webhook, so the split happens here instead: the number keeps its voice webhook
(this sidecar), and for a call chosen for ``sip`` the webhook answers ``<Dial><Sip>`` to LiveKit
SIP, where the same agent answers it in a room (Twilio Programmable Voice carries the call to
LiveKit; the inbound trunk admits it by the dialled number and digest credentials).

Each call's path, in this order:

1. a parameter on the webhook URL (``?trunkline_path=sip`` or ``twilio-ws``), e.g. set by an
   existing Programmable Voice app that hands calls over with ``<Redirect>``;
2. the caller's number, in ``TRUNKLINE_SIP_CALLERS`` or ``TRUNKLINE_TWILIO_WS_CALLERS``;
3. ``TRUNKLINE_SIP_SHARE``: a fixed share of calls, chosen by a hash of the CallSid — the same
   call gets the same answer from every replica and on every retry of its webhook.

If the ``sip`` leg cannot be completed (LiveKit refuses it, nobody answers), Twilio asks the
webhook again (``<Dial action>``) and the call streams instead: the caller still reaches the
agent, and the fallback is counted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from sip.twilio.twiml import dial_sip
from trunkline.config import PathSplit
from trunkline.sip_uri import dial_target

PATH_PARAM: Final = "trunkline_path"
"""Query (or form) parameter of the webhook naming the path a call should take."""
DIAL_DONE_PARAM: Final = "trunkline_dial"
"""Set on the ``<Dial action>`` URL: the request reports how the sip leg ended."""
CALL_SID_HEADER: Final = "X-Trunkline-Call-Sid"
"""SIP header carrying the CallSid to LiveKit (its trunk maps it to an attribute)."""

TelephonyPath = Literal["twilio-ws", "sip"]
PATHS: Final[tuple[TelephonyPath, ...]] = ("twilio-ws", "sip")
#: ``DialCallStatus`` values that mean the sip leg was answered: the call is over when it ends
ANSWERED: Final = frozenset({"completed", "answered"})


class BadPathParameter(ValueError):
    """The webhook URL asks for a path that does not exist."""


@dataclass(frozen=True)
class Route:
    path: TelephonyPath
    why: str
    """``parameter``, ``caller``, ``share``, ``not_configured`` or ``sip_failed`` (for logs
    and the ``trunkline_calls_routed_total`` metric)."""


def dial_action() -> str:
    """Where Twilio reports the sip leg's end: this webhook again, relative to the URL Twilio
    called (so a base path in PUBLIC_URL, or a proxy's, is kept)."""
    return f"voice?{DIAL_DONE_PARAM}=done"


def share_point(call_sid: str) -> float:
    """Where the call falls in [0, 1): uniform over CallSids, and the same for every replica."""
    digest = hashlib.sha256(call_sid.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(split: PathSplit, call_sid: str, caller: str, requested: str | None) -> Route:
    """The path for this call; raises :class:`BadPathParameter` for a parameter that names none.

    A call asked onto the sip path when it is not configured streams instead (``why`` says so):
    the caller is served either way, and the log says what to configure.
    """
    if requested is not None and requested not in PATHS:
        raise BadPathParameter(f"{PATH_PARAM} must be one of {', '.join(PATHS)}, not {requested!r}")
    if requested is not None:
        route = Route(requested, "parameter")
    elif caller in split.sip_callers:
        route = Route("sip", "caller")
    elif caller in split.twilio_ws_callers:
        route = Route("twilio-ws", "caller")
    else:
        sip = share_point(call_sid) < split.sip_share
        route = Route("sip" if sip else "twilio-ws", "share")
    if route.path == "sip" and split.dial is None:
        return Route("twilio-ws", "not_configured")
    return route


def route_call(
    split: PathSplit, query: Mapping[str, str], params: Mapping[str, str]
) -> Route | None:
    """The route of a webhook request, or None when it reports a sip leg that was answered and
    has ended (nothing more to do but hang up). Raises :class:`BadPathParameter`."""
    if query.get(DIAL_DONE_PARAM) is not None:
        if params.get("DialCallStatus", "") in ANSWERED:
            return None
        return Route("twilio-ws", "sip_failed")
    requested = query.get(PATH_PARAM) or params.get(PATH_PARAM)
    return choose(split, params.get("CallSid", ""), params.get("From", ""), requested)


#: what may stand in a SIP URI's user part as the number dialled (a phone number, an extension)
_DIALLED = re.compile(r"[A-Za-z0-9+*#._-]{1,64}")


def dialled_user(params: Mapping[str, str]) -> str:
    """The number the caller dialled as the SIP URI's user part, or ``trunkline`` when ``To``
    is missing or is not a plain number (text that could change the URI's host or parameters
    never reaches the dial string)."""
    to = params.get("To", "")
    return to if _DIALLED.fullmatch(to) else "trunkline"


def sip_twiml(split: PathSplit, call_sid: str, params: Mapping[str, str]) -> str:
    """``<Dial><Sip>`` to LiveKit for the number the caller dialled, with the trunk's digest
    credentials and the CallSid in a header (so the agent's turn lines use the same id)."""
    dial = split.dial
    if dial is None:
        raise RuntimeError("the sip path is not configured")  # choose() never routes there
    return dial_sip(
        dial_target(dial.uri, dialled_user(params)),
        username=dial.username,
        password=dial.password,
        action=dial_action(),
        headers={CALL_SID_HEADER: call_sid},
    )
