"""What a trunkline process tells Prometheus: calls, where each reply's time went, the pacer.

Defined once here (the base layer) because two kinds of process record them: the sidecar
(Twilio streams, the webhook, draining; and in local mode the agent too) and the LiveKit worker
(every path's agent, one job process per call). Both use ``prometheus_client``'s default
registry: the sidecar serves it at ``/metrics``; the worker's job processes write it to
``PROMETHEUS_MULTIPROC_DIR`` and LiveKit's worker serves the sum (``agent.launch``). Gauges say
how to add up processes (``livesum``: only processes still running count).

Labels stay few and bounded — a caller ``path`` (``twilio-ws``, ``sip``, ``webrtc``), a stage,
an outcome from a fixed list — never a CallSid or a room, which would make a series per call.
The README lists Grafana panels built from these.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import Counter, Gauge, Histogram

#: Why a call ended, as ``trunkline_calls_ended_total{reason=...}`` counts it.
EndReason = Literal[
    "caller",  # the caller hung up
    "agent",  # the agent ended it (end_call, or the agent left the room)
    "failure",  # the agent's side failed (could not start, LiveKit lost): apologised
    "duration_limit",  # TRUNKLINE_MAX_CALL_SECONDS
    "protocol_error",  # the peer broke the Media Streams protocol or stopped reading
    "drain_timeout",  # still running when a drain ran out of time: goodbye, then hang-up
    "shutdown",  # ended at once (a second signal, or the process stopping)
]
#: Why the webhook or the media WebSocket turned a call away.
RefusalReason = Literal[
    "draining",  # the process is draining: fallback TwiML
    "busy",  # TRUNKLINE_MAX_CALLS calls already
    "livekit_unavailable",  # bridge mode: the call's room could not be created
    "public_url_unknown",  # behind an untrusted proxy with no PUBLIC_URL: no stream URL
    "bad_signature",  # X-Twilio-Signature missing or wrong
    "bad_stream_token",  # a media stream without the token its TwiML carried
]

#: Seconds; response latency is usually 0.5–4 s (the model dominates).
LATENCY_BUCKETS: Final = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0)
#: Seconds; stages range from a few ms (pacing, transport) to seconds (the model).
STAGE_BUCKETS: Final = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)

CALLS_ACTIVE = Gauge(
    "trunkline_calls_active",
    "Calls in progress",
    ["path"],
    multiprocess_mode="livesum",
)
CALLS_LIMIT = Gauge(
    "trunkline_calls_limit",
    "Calls this sidecar takes at once (TRUNKLINE_MAX_CALLS)",
    multiprocess_mode="livemax",
)
CALLS = Counter("trunkline_calls", "Calls answered", ["path"])
CALLS_ENDED = Counter("trunkline_calls_ended", "Calls ended, by why", ["path", "reason"])
CALLS_REFUSED = Counter(
    "trunkline_calls_refused", "Calls turned away before an agent answered", ["reason"]
)
CALLS_ROUTED = Counter(
    "trunkline_calls_routed",
    "Calls the webhook sent down each telephony path, and why (parameter, caller, share, "
    "not_configured, sip_failed)",
    ["path", "why"],
)
RESPONSE_LATENCY = Histogram(
    "trunkline_response_latency_seconds",
    "From the model deciding the caller finished a turn to the first paced frame of the reply",
    ["path"],
    buckets=LATENCY_BUCKETS,
)
TURN_STAGE = Histogram(
    "trunkline_turn_stage_seconds",
    "Seconds per waterfall stage of a reply (model, pacing, transport)",
    ["path", "stage"],
    buckets=STAGE_BUCKETS,
)
PACER_UNDERRUNS = Counter(
    "trunkline_pacer_underruns",
    "Times a pacer ran dry mid-reply and sent silence",
    ["path", "pacer"],
)
PACER_SILENCE = Counter(
    "trunkline_pacer_inserted_silence_seconds",
    "Silence a pacer inserted into replies because audio had not arrived",
    ["path", "pacer"],
)
PACER_LATE_GAPS = Counter(
    "trunkline_pacer_late_gaps",
    "Gaps the listener heard because frames reached the sink after it had run dry (the "
    "process was late by more than the lead), as the pacer counted them",
    ["path", "pacer"],
)
PACER_LATE_GAP_SECONDS = Counter(
    "trunkline_pacer_late_gap_seconds",
    "Length of those heard gaps",
    ["path", "pacer"],
)
PROTOCOL_ERRORS = Counter(
    "trunkline_protocol_errors",
    "Bad Twilio Media Streams messages: dropped (the stream went on) or fatal (it was closed)",
    ["outcome"],
)
MODEL_ERRORS = Counter(
    "trunkline_model_errors",
    "Errors the realtime model reported during calls",
    ["path", "recoverable"],
)
DRAINING = Gauge(
    "trunkline_draining",
    "1 while this process drains (no new calls; live calls run to their end)",
    multiprocess_mode="livemax",
)


def refused(reason: RefusalReason) -> None:
    """Count a call turned away (the reason checked against the list above)."""
    CALLS_REFUSED.labels(reason).inc()
