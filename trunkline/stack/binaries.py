"""Where the stack's programs are: on ``PATH`` first (a user who installed LiveKit), then in the
project's git-ignored ``.tools/bin`` that ``make livekit`` fills."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: the checkout this package runs from (an editable install; the stack is a development tool)
ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
INSTALL_HINT = "run `make livekit` (it builds them from their Go modules into .tools/bin)"

REDIS = "redis-server"
LIVEKIT_SERVER = "livekit-server"
LIVEKIT_SIP = "livekit-sip"


class StackUnavailable(RuntimeError):
    """A program the stack needs is not installed; the message says how to get it."""


def find(name: str) -> Path | None:
    """``name`` on ``PATH``, else in ``.tools/bin``; None when neither has it."""
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    local = TOOLS_BIN / name
    return local if os.access(local, os.X_OK) else None


def require(name: str) -> Path:
    path = find(name)
    if path is not None:
        return path
    if name == REDIS:
        raise StackUnavailable(
            "redis-server is not installed (livekit-server's SIP API and livekit-sip need it): "
            "on Debian/Ubuntu `sudo apt-get install redis-server`, then `make livekit`"
        )
    raise StackUnavailable(f"{name} is not installed: {INSTALL_HINT}")


def sip_unavailable_reason() -> str:
    """Why livekit-sip is missing, as ``make livekit`` recorded it (or how to get it)."""
    recorded = TOOLS_BIN / f"{LIVEKIT_SIP}.unavailable"
    if recorded.is_file():
        return recorded.read_text().strip()
    return f"{LIVEKIT_SIP} is not installed: {INSTALL_HINT}"
