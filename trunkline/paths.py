"""The three caller paths, named as everywhere in trunkline (turn logs, reports, tables)."""

from __future__ import annotations

from typing import Final, Literal, get_args

CallPath = Literal["twilio-ws", "sip", "webrtc"]
CALL_PATHS: Final[tuple[CallPath, ...]] = get_args(CallPath)
