"""Bridge mode of the Twilio sidecar: each Twilio call becomes a LiveKit room with the agent.

- ``contract`` — names and codes shared with the worker (room, identity, attributes, RPCs, DTMF).
- ``rooms`` — the LiveKit server calls (create room, dispatch, delete, join token), time-bounded.
- ``bridge`` — the process-wide part: webhook admission and one backend per media stream.
- ``call`` — one call's backend: join, wait for the agent, serve RPCs, end in either direction.
- ``inbound`` / ``outbound`` — caller audio into the room / agent audio out to Twilio.
- ``gate`` — stretches of agent speech (paced frames and marks go out through
  ``sip.sidecar.twilio_sink``, the sink local mode uses too).
- ``rpc`` — the RPC handlers; ``apology`` — what the caller hears when LiveKit fails late.

Per-turn metrics: the bridge does not write ``trunkline.turnlog`` lines. It could stamp
``caller_first_audio`` (from its marks) and ``pacer_first_frame`` (from its pacer), but a line
must name its turn as the worker numbers it — turn *n* is the reply to the caller's *n*-th
utterance by the agent's turn detection — and nothing in the contract tells the bridge that
number: it sees stretches of audio, and a reply paused longer than the gate's hangover is two
stretches, an unanswered utterance none. Guessing would merge wrong stamps into the right
turns. (Its ``pacer_first_frame`` would also collide with the worker's own pacer's stamp for
the same turn.) It logs each stretch instead — hold, first frame → heard, underruns, cut or
played — and keeps them on ``BridgeCall.agent_audio.stretches``. Aligning needs the worker to
announce its turn number, e.g. an attribute ``trunkline.turn`` set before each reply's audio.
"""
