"""LiveKit's SIP URI, as Twilio needs it: for origination URLs (``trunkline provision``) and
for ``<Dial><Sip>`` from the sidecar's webhook (the one-number split between paths)."""

from __future__ import annotations

import re

_HOST = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?$"
)


def normalize_sip_uri(raw: str) -> str:
    """``sip:<host>;transport=tcp`` from a LiveKit SIP URI given with or without ``sip:``.

    LiveKit's project page shows ``sip:<id>.sip.livekit.cloud``; Twilio needs the ``sip:`` scheme
    and LiveKit's Twilio guide uses TCP, so TCP is added unless a transport is already named.
    Raises ``ValueError`` for anything Twilio would refuse as an origination URL.
    """
    value = raw.strip()
    if value.lower().startswith("sips:"):
        raise ValueError(
            "use sip: (Twilio origination URLs take the sip: scheme; add ;transport=tls)"
        )
    if value.lower().startswith("sip:"):
        value = value[4:]
    address, _, params = value.partition(";")
    host = address.rpartition("@")[2]
    if not _HOST.match(host):
        raise ValueError("expected sip:<host>[:port][;params], e.g. sip:abc123.sip.livekit.cloud")
    param_names = {p.split("=", 1)[0].lower() for p in params.split(";") if p}
    suffix = f";{params}" if params else ""
    if "transport" not in param_names:
        suffix += ";transport=tcp"
    return f"sip:{address}{suffix}"


def dial_target(sip_uri: str, user: str) -> str:
    """``sip:<user>@<host>[;params]`` on the host of a normalized ``sip_uri``: LiveKit's
    inbound trunk matches a call by the number in the user part."""
    address, sep, params = sip_uri.removeprefix("sip:").partition(";")
    host = address.rpartition("@")[2]
    return f"sip:{user}@{host}{sep}{params}"
