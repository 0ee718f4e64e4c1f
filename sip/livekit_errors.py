"""What a LiveKit server API error means, in words that point at the fix.

Shared by everything that calls LiveKit's Twirp API from the telephony edge (the bridge's room
calls, provisioning), so an operator reads one wording whichever command failed.
"""

from __future__ import annotations

from livekit import api


def livekit_failure(exc: api.TwirpError) -> str:
    """livekit-server refuses a token before its Twirp handler runs, with HTTP 401 and a
    plain-text body (not Twirp's JSON), which the SDK reports as code ``unknown`` with no
    message; a proxy in front of the server answers the same way. Neither reads well as
    "said unknown: "."""
    if exc.status == 401:
        detail = f" ({exc.message})" if exc.message else ""
        return (
            f"LiveKit did not accept the API key and secret (HTTP 401){detail}: check "
            "LIVEKIT_API_KEY and LIVEKIT_API_SECRET against the project's keys"
        )
    if not exc.message:
        return f"LiveKit answered HTTP {exc.status} without an error message ({exc.code})"
    return f"LiveKit said {exc.code}: {exc.message} (HTTP {exc.status})"
