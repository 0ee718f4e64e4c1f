"""The real LiveKit stack on one machine: Redis, livekit-server and livekit-sip.

What the tests, ``trunkline lab`` and ``trunkline stack`` run the room paths on, so that every
room-path figure comes from LiveKit's own engine (its SFU, its SIP gateway), never from an
imitation. The binaries are installed by ``make livekit`` (``scripts/install-livekit``) or
found on ``PATH``; this package only configures, starts, checks and stops them.
"""

from trunkline.stack.binaries import StackUnavailable
from trunkline.stack.stack import LocalStack, StackOptions

__all__ = ["LocalStack", "StackOptions", "StackUnavailable"]
