"""What ``trunkline provision`` should make exist: the desired state, validated before any call.

Every value is checked up front so a typo (a number without ``+``, a SIP URI pasted with
``sips:``) is reported together with the others before LiveKit or Twilio is touched, rather than
surfacing as an API error halfway through, after some objects were already changed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# defined in the base layer, where the sidecar's <Dial><Sip> needs it too
from trunkline.sip_uri import normalize_sip_uri as normalize_sip_uri

DEFAULT_NAME = "trunkline"
DEFAULT_ROOM_PREFIX = "call-"
# transfer_call on the sip path sends a SIP REFER to Twilio, which performs it only when the
# trunk allows transfers; enable-all also allows transfers to PSTN numbers (billed by Twilio).
TRANSFER_MODES = ("enable-all", "sip-only", "disable-all")
DEFAULT_TRANSFER_MODE = "enable-all"
# Twilio limits friendly names to 64 characters; LiveKit names are looser, so Twilio decides.
MAX_NAME_LENGTH = 64

_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_TWILIO_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.pstn\.twilio\.com$")


@dataclass(frozen=True)
class DigestAuth:
    """The credentials LiveKit's inbound trunk asks of every INVITE (``--dial-sip``)."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ProvisionSpec:
    """The desired LiveKit inbound trunk + dispatch rule and Twilio Elastic SIP trunk.

    ``name`` names all three objects, so a second run finds them again by it. With
    ``dial_sip`` the number stays on its voice webhook (the sidecar), which dials LiveKit for
    its sip-path calls with ``<Dial><Sip>``: the trunk then asks for those credentials, and no
    Twilio trunk is made.
    """

    numbers: tuple[str, ...]
    sip_uri: str
    agent_name: str
    name: str = DEFAULT_NAME
    room_prefix: str = DEFAULT_ROOM_PREFIX
    allowed_addresses: tuple[str, ...] = ()
    twilio_domain: str | None = None
    transfer_mode: str = DEFAULT_TRANSFER_MODE
    dial_sip: DigestAuth | None = None


def make_spec(
    *,
    numbers: Sequence[str],
    sip_uri: str | None,
    agent_name: str,
    name: str = DEFAULT_NAME,
    room_prefix: str = DEFAULT_ROOM_PREFIX,
    allowed_addresses: Sequence[str] = (),
    twilio_domain: str | None = None,
    transfer_mode: str = DEFAULT_TRANSFER_MODE,
    dial_sip: DigestAuth | None = None,
    problems: list[str],
) -> ProvisionSpec | None:
    """A validated spec, or None with one line per problem appended to ``problems``."""
    found: list[str] = []
    if not numbers:
        found.append("at least one --number is required (the Twilio phone number callers dial)")
    for number in numbers:
        if not _E164.match(number):
            found.append(
                f"--number {number!r} is not E.164 (a '+', country code, digits: +15551234567)"
            )
    uri: str | None = None
    if sip_uri is None or not sip_uri.strip():
        found.append(
            "LIVEKIT_SIP_URI (or --sip-uri) is not set: the SIP URI on your LiveKit project's "
            "settings page, e.g. sip:abc123.sip.livekit.cloud"
        )
    else:
        try:
            uri = normalize_sip_uri(sip_uri)
        except ValueError as exc:
            found.append(f"SIP URI {sip_uri!r}: {exc}")
    for address in allowed_addresses:
        try:
            ipaddress.ip_network(address, strict=True)
        except ValueError as exc:
            found.append(f"--allowed-address {address!r} is not an IP address or CIDR block: {exc}")
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        found.append(f"--name {name!r} must be 1 to {MAX_NAME_LENGTH} characters")
    if not agent_name.strip():
        found.append("the agent name (AGENT_NAME or --agent-name) must not be empty")
    if twilio_domain is not None and not _TWILIO_DOMAIN.match(twilio_domain):
        found.append(f"--twilio-domain {twilio_domain!r} must look like <name>.pstn.twilio.com")
    if dial_sip is not None and twilio_domain is not None:
        found.append("--twilio-domain is for an Elastic SIP trunk, which --dial-sip does not make")
    if transfer_mode not in TRANSFER_MODES:
        found.append(f"--transfer-mode {transfer_mode!r} is not one of {', '.join(TRANSFER_MODES)}")
    problems.extend(found)
    if found or uri is None:
        return None
    return ProvisionSpec(
        numbers=tuple(dict.fromkeys(numbers)),
        sip_uri=uri,
        agent_name=agent_name,
        name=name,
        room_prefix=room_prefix,
        allowed_addresses=tuple(dict.fromkeys(allowed_addresses)),
        twilio_domain=twilio_domain,
        transfer_mode=transfer_mode,
        dial_sip=dial_sip,
    )
