"""REPORT.md prose for the paths section: how each figure was measured and what the A/B and the
sweep say, the latter built from the run's own numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from lab.path_measures import Measured, arrival_lead_ms, median, pacer_underruns

#: what meters the agent's audio on each path when the agent's own pacer is off
WHO_PACES: Final = {
    "twilio-ws (local)": "the caller's own buffer (Twilio's), nothing before it",
    "twilio-ws (bridge)": (
        "RoomIO's AudioSource clocks the agent's track out in 10 ms frames, the SFU forwards "
        "it, and the bridge re-paces it with its own pacer before Twilio's buffer"
    ),
    "sip": (
        "RoomIO's AudioSource clocks the agent's track out in 10 ms frames and livekit-sip's "
        "mixer re-times it into 20 ms RTP"
    ),
    "webrtc": (
        "RoomIO's AudioSource clocks the agent's track out in 10 ms frames and the receiver "
        "plays from NetEq's jitter buffer"
    ),
    "webrtc (browser)": (
        "RoomIO's AudioSource clocks the agent's track out in 10 ms frames and the page plays "
        "it from Chromium's own jitter buffer"
    ),
}
#: unpaced audio that reaches the caller no further ahead of real time than this was paced
#: by the transport (a pacer's own lead is 60–100 ms)
PACED_BY_TRANSPORT_MS: Final = 150.0
#: less inserted silence than this over a run is not worth a verdict
CLEAR_GAP_MS: Final = 150.0


def rig_sentence(where: str) -> str:
    return (
        f"Measured against {where}. Per pacer arm the run starts the product's own processes "
        "— the agent worker (`python agent.py dev`, `TRUNKLINE_PACER` on or off, its own agent "
        "name), `trunkline serve` in bridge mode and in local mode (`--pacer on|off`), one "
        "`trunkline sim` behind all of them — and, through the real SIP API, an inbound trunk "
        "and a dispatch rule for the arm's own number. Callers: the simulated Twilio caller "
        "(twilio-ws, both modes), the lab's SIP user agent dialling livekit-sip like a Twilio "
        "Elastic SIP trunk (sip, G.711 μ-law end to end), an SDK participant publishing 48 kHz "
        "speech (webrtc, Opus both ways) and headless Chromium on the product's call page "
        "(webrtc (browser): the page's own token, livekit-client, Chromium's Opus and jitter "
        "buffer; the lab speaks into its microphone and taps what it plays). Calls go round by "
        "round, one per path in rotating order, each placed in both arms at the same moment; "
        "every call of a round meets the same seeded model draws."
    )


LATENCY_METHOD: Final = """\
**Response latency** is the caller's end of speech (its last speech packet or frame leaving)
→ the first audible agent audio *received* (before the caller's playout buffer). **The
waterfall** splits it at stamps taken where each event happens, all epoch seconds on this
machine: turn detected (the session's user state leaving *speaking*: the model's server VAD)
→ model first audio (first reply audio reaching the agent's output) → pacer first frame (with
the pacer off the same instant: pacing 0) → first audio received by the caller. The agent's
and the caller's halves are joined per call by time (an arm's calls never overlap). A webrtc
caller gets audio only out of NetEq's jitter buffer (the SDK's, or Chromium's as the page
plays it), so on that path "received" is "played" and transport includes the buffer; its mean
delay (libwebrtc's own statistics, the page's inbound-rtp in the browser) is shown as its
playout. **Playout** elsewhere follows the latency: the caller's buffer before the first
audio plays (the Twilio-like buffer). Stage figures are medians over the turns with both
bounds: they do not add up to the median latency. **Transport share** is the median over
turns of transport ÷ latency.
"""

HEARD_METHOD: Final = """\
**Heard audio**: each reply the caller heard, from its first to its last audible chunk, laid
out as the caller's receiver played it (the Twilio caller's playout; the SIP caller by RTP
timestamp; webrtc as the SDK hands it over, or as the page plays it, at 48 kHz), judged against
the clean reply (the simulator's own espeak-ng audio of the scripted line) through the
receiver's codecs alone: μ-law at 8 kHz (twilio-ws local), Opus 48 kHz then μ-law 8 kHz
(bridge, sip), Opus 48 kHz (webrtc). **BW99** is the 99 % bandwidth of all heard replies, Welch
over active speech and, labelled, the FFT-bin method behind the published figures (see the
codec section); caller → agent is the same over what the simulator recorded of every caller
turn (24 kHz). **PESQ** NB / WB of complete replies (not talked over) against the clean reply,
aligned; in brackets the same through the codecs alone — the ceiling. **Gaps** are silences ≥
10 ms inside a reply that the clean reply did not have there (5 ms blocks below −54 dBFS peak
count as silence on both sides: after Opus a dropout is a fade, not exact zeros). **Clicks**
against the clean reply's own rate through the same codecs. **Playout underruns**: the caller's
own buffer ran dry mid-reply (Twilio-like buffer; NetEq concealment events on webrtc; on sip,
runs of packets that would have missed a 60 ms phone buffer — a model). **Barge-in**: the
caller talks over the next-to-last reply after 1 s of it; cut-off is until the last agent audio
arrived, clear until the sidecar's `clear` (Twilio paths).
"""

AB_METHOD: Final = """\
**The A/B**: every call placed at the same moment in two arms that differ only in the pacer —
the worker's (`TRUNKLINE_PACER`) for the room paths, the sidecar's (`--pacer`) for twilio-ws
local; the bridge always paces its own output to Twilio. Both arms' simulators replay the same
seeded draws (checked: each call's simulator connection is listed in `lab.json`), so the n-th
call meets the same think times and the same bursts (50–500 ms chunks at uneven speed) in
both. Everything is measured at the caller, after the real media path. **paced later by** is
the median over turns answered in both arms of (paced − unpaced) time from turn detection to
first audio received — the price of the pacer's hold. **Ahead of real time** is, per reply,
the audio received so far less the time since its first audio arrived, at most: a pacer's
bounded lead is tens of ms; bursts forwarded as they come are seconds; a transport that paces
(a clocked source, a mixer, a jitter buffer) keeps the unpaced arm near zero as well. The
figure shows one reply per path and arm: its audio as it arrived against real time, and its
level as heard.
"""

SWEEP_METHOD: Final = """\
**The sweep**: the same calls (fewer, without barge-in) at other think times of the simulator
(lognormal medians; `bursty` chunks throughout), pacer on. Transport's share is the median over
turns of transport ÷ latency. The extrapolation keeps each path's measured turn detection,
pacing and transport from the main phase and asks how short the model stage must be before
transport alone is 5 % of the latency.
"""


def _gaps(m: Measured) -> tuple[int, float, int]:
    if m.heard is None:
        return 0, 0.0, 0
    return m.heard.gaps, m.heard.gap_ms, m.heard.receiver_gaps


def ab_reading(paced: Measured, unpaced: Measured, deltas: Sequence[float]) -> str:
    """Two verdicts: whether the transport already meters bursts on this path (how far ahead
    of real time unpaced audio reached the caller), and what the pacer still bought (how much
    less silence the caller heard), at what price."""
    who = WHO_PACES.get(paced.name, "the transport")
    lead_u, lead_p = arrival_lead_ms(unpaced.run), arrival_lead_ms(paced.run)
    if lead_u is None or lead_p is None:
        cadence = "No reply arrived in both arms to compare cadence."
    elif lead_u <= PACED_BY_TRANSPORT_MS:
        cadence = (
            f"**The transport already paces here**: unpaced, the audio still reached the caller "
            f"in real time (at most {lead_u:,.0f} ms ahead; paced {lead_p:,.0f} ms) — {who}."
        )
    else:
        cadence = (
            f"**Nothing else paces here**: unpaced, model bursts reached the caller up to "
            f"{lead_u:,.0f} ms ahead of real time (paced {lead_p:,.0f} ms) — {who}; a barge-in "
            "then depends on that buffer being cleared."
        )
    (p_gaps, p_ms, p_dry), (u_gaps, u_ms, u_dry) = _gaps(paced), _gaps(unpaced)
    heard = (
        f"unpaced {u_gaps} gaps ({u_ms:,.0f} ms) and {u_dry} playout underruns, paced "
        f"{p_gaps} ({p_ms:,.0f} ms) and {p_dry}"
    )
    if u_ms - p_ms >= CLEAR_GAP_MS:
        bought = (
            f"**Pacing buys continuity**: {u_ms - p_ms:,.0f} ms less silence heard ({heard}) — "
            "the start hold covers the model's shorter stalls, which unpaced become silence."
        )
    elif p_ms - u_ms >= CLEAR_GAP_MS:
        bought = f"**Pacing cost continuity here** ({heard})."
    else:
        bought = f"**Pacing changed little that the caller heard** ({heard})."
    pacer = pacer_underruns(paced.run)
    stalls = (
        ""
        if pacer is None or not pacer[0]
        else f" What the paced arm still heard is mostly the model's stalls longer than the "
        f"hold ({pacer[0]} pacer underruns, {pacer[1]:,.0f} ms)."
    )
    cost = median(deltas)
    price = (
        ""
        if cost is None
        else f" The hold's price: {cost:+,.0f} ms to first audio (median, paired)."
    )
    return f"{cadence} {bought}{stalls}{price}"


def break_even_ms(m: Measured, share: float = 0.05) -> float | None:
    """The model stage below which transport alone would exceed ``share`` of the latency,
    keeping the path's measured turn detection, pacing and transport."""
    if m.latency is None:
        return None
    s = m.latency.stage_medians_s
    transport, detect, pacing = s.get("transport"), s.get("turn_detection"), s.get("pacing")
    if not transport or detect is None or pacing is None:
        return None
    return 1000 * (transport / share - transport - detect - pacing)


#: a model stage this fast is "an order of magnitude" below OpenAI's ~2 s
ORDER_OF_MAGNITUDE_MS: Final = 500.0


def sweep_reading(
    points: Mapping[str, Sequence[Mapping[str, Any]]], main: Mapping[str, Measured]
) -> str:
    parts = []
    evens: dict[str, float] = {}
    for name, series in points.items():
        known = sorted(
            (p for p in series if p["model_ms"] is not None and p["share"] is not None),
            key=lambda p: p["model_ms"],
        )
        if len(known) < 2:
            continue
        fast, slow = known[0], known[-1]
        even = break_even_ms(main[name]) if name in main else None
        if even is not None:
            evens[name] = even
        parts.append(
            f"{name} {100 * slow['share']:.1f} % at a {slow['model_ms']:,.0f} ms model stage, "
            f"{100 * fast['share']:.1f} % at {fast['model_ms']:,.0f} ms"
        )
    if not parts:
        return "Too few phases measured to draw the curve."
    never = [k for k, v in evens.items() if v <= 0]
    quick = [f"{k} ({v:,.0f} ms)" for k, v in evens.items() if 0 < v < ORDER_OF_MAGNITUDE_MS]
    early = [f"{k} ({v:,.0f} ms)" for k, v in evens.items() if v >= ORDER_OF_MAGNITUDE_MS]
    verdicts = []
    if never:
        verdicts.append(f"transport never reaches 5 % on {', '.join(never)}")
    if quick:
        verdicts.append(
            f"on {', '.join(quick)} it passes 5 % only with a model stage under the figure in "
            "brackets — an order of magnitude faster than OpenAI's ~2 s, as the seed says"
        )
    if early:
        verdicts.append(
            f"on {', '.join(early)} it passes 5 % already with a model stage under the figure "
            "in brackets: there the path's own buffering (livekit-sip's jitter buffer, the "
            "bridge's re-pacing) is transport, and a faster model makes it matter"
        )
    return (
        "Transport's share grows as the model gets faster — "
        + "; ".join(parts)
        + ". Keeping each path's measured turn detection, pacing and transport: "
        + "; ".join(verdicts)
        + "."
    )
