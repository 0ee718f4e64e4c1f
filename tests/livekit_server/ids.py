"""Resource ids in LiveKit's format: a type prefix and random base62 characters.

The SDKs parse some of them (``PA_``, ``TR_``, ``RM_`` must prefix participant, track and room
sids or the Rust SDK refuses them), so the prefixes are part of the protocol, not decoration.
"""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

ROOM = "RM_"
PARTICIPANT = "PA_"
TRACK = "TR_"
AGENT_WORKER = "AW_"
AGENT_JOB = "AJ_"
AGENT_DISPATCH = "AD_"
SIP_TRUNK = "ST_"
SIP_DISPATCH_RULE = "SDR_"
SIP_CALL = "SCL_"
NODE = "ND_"


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))
