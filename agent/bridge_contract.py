"""The names the room worker and the sidecar's Twilio bridge agree on (one place, both sides).

A Twilio call in bridge mode reaches the agent as an ordinary LiveKit participant, so the agent
can only tell it apart — and reach back to the Twilio leg it stands for — through these
attributes and RPC methods. Keeping them here means the two sides cannot drift apart silently:
a renamed attribute breaks an import, not a live call.
"""

from __future__ import annotations

from typing import Final

#: participant attribute naming the caller's path; the bridge sets it to ``TWILIO_WS_PATH``
PATH_ATTRIBUTE: Final = "trunkline.path"
TWILIO_WS_PATH: Final = "twilio-ws"
#: the Twilio CallSid of the call the bridge participant stands for
CALL_SID_ATTRIBUTE: Final = "trunkline.call_sid"
FROM_ATTRIBUTE: Final = "trunkline.from"
TO_ATTRIBUTE: Final = "trunkline.to"

#: agent → bridge, payload ``{}``: the agent was interrupted; drop queued audio, Twilio ``clear``
RPC_CLEAR: Final = "trunkline.clear"
#: agent → bridge, payload ``{"reason": "..."}``: end the Twilio call and the room
RPC_HANGUP: Final = "trunkline.hangup"
#: agent → bridge, payload ``{"to": "+1555..."}``: redirect the Twilio call (TwiML ``<Dial>``)
RPC_TRANSFER: Final = "trunkline.transfer"
#: bridge → agent, payload ``""``, answer ``"pong"``: the agent is still there. A worker that
#: dies without leaving (killed, out of memory, machine lost) stays in the room until LiveKit
#: times its connection out, ~20 s of dead air for the caller; a ping unanswered for the
#: bridge's liveness timeout ends the call long before that.
RPC_PING: Final = "trunkline.ping"
PONG: Final = "pong"
