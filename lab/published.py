"""The published experiment this project answers, and one sentence per row on how a run compares.

The figures (from the experiment the seed cites): the WebSocket path answered in ~1,920 ms
median and the Twilio Elastic SIP → LiveKit path in ~2,060 ms on the same agent, transport
being under 5 % of it; a browser on WebRTC reached ~8.4 kHz of 99 % bandwidth (8,438 Hz) while
the PSTN paths were capped near 4 kHz (~3,969 Hz); and the WebRTC path was choppy until the
same pacer was put in front of it. Every sentence here is built from the run's own numbers,
so it can say "agrees" only when the numbers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from lab.path_measures import Measured, chain_pesq

WS_MEDIAN_MS: Final = 1920.0
SIP_MEDIAN_MS: Final = 2060.0
BROWSER_BW_HZ: Final = 8438.0
PSTN_BW_HZ: Final = 3969.0
TRANSPORT_SHARE: Final = 0.05
#: paths whose medians lie this close (relative spread) have "the same latency"
SAME_LATENCY: Final = 0.15

PUBLISHED: Final = {
    "latency": f"WS ~{WS_MEDIAN_MS:,.0f} · SIP ~{SIP_MEDIAN_MS:,.0f} (medians)",
    "model": "0.5–4 s (OpenAI Realtime)",
    "transport_share": "< 5 %",
    "bandwidth_down": f"browser ~{BROWSER_BW_HZ:,.0f} · PSTN ~{PSTN_BW_HZ:,.0f} (FFT-bin)",
    "gaps": "webrtc choppy until paced",
}


@dataclass(frozen=True)
class Context:
    """What the readings need besides the paths' figures."""

    think: str
    #: the clean reply's own 99 % bandwidth (Welch, FFT-bin) at the model's 24 kHz
    clean_welch_hz: float
    clean_fft_bin_hz: float
    #: the caller's clips' own 99 % bandwidth (Welch) at their 16 kHz
    caller_welch_hz: float


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _hz(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} Hz"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _stage(m: Measured, stage: str) -> float | None:
    if m.latency is None:
        return None
    value = m.latency.stage_medians_s.get(stage)
    return None if value is None else 1000 * value


def _median_ms(m: Measured) -> float | None:
    if m.latency is None or m.latency.latency_median_s is None:
        return None
    return 1000 * m.latency.latency_median_s


def _spread(values: dict[str, float]) -> tuple[str, str, float]:
    low = min(values, key=lambda k: values[k])
    high = max(values, key=lambda k: values[k])
    return low, high, values[high] - values[low]


def latency(paths: Sequence[Measured], ctx: Context) -> str:
    medians = {m.name: v for m in paths if (v := _median_ms(m)) is not None}
    if len(medians) < 2:
        return "Too few paths measured to compare latency."
    low, high, spread = _spread(medians)
    relative = spread / (sum(medians.values()) / len(medians))
    published = (SIP_MEDIAN_MS - WS_MEDIAN_MS) / ((SIP_MEDIAN_MS + WS_MEDIAN_MS) / 2)
    scale = (
        f"absolute values are not comparable: the model here is the simulator (think "
        f"`{ctx.think}`), not OpenAI"
    )
    if relative <= SAME_LATENCY:
        return (
            f"Agrees in shape: every path within {spread:,.0f} ms ({100 * relative:.0f} %) of "
            f"the others ({low} fastest, {high} slowest), as published (WS vs SIP "
            f"{SIP_MEDIAN_MS - WS_MEDIAN_MS:,.0f} ms, {100 * published:.0f} %) — the model and "
            f"turn detection dominate; {scale}."
        )
    stages = ("turn_detection", "model", "pacing", "transport")
    by_stage = {
        s: (_stage(next(m for m in paths if m.name == high), s) or 0.0)
        - (_stage(next(m for m in paths if m.name == low), s) or 0.0)
        for s in stages
    }
    culprit = max(by_stage, key=lambda s: by_stage[s])
    return (
        f"Differs from the published run: {high} is {spread:,.0f} ms ({100 * relative:.0f} %) "
        f"slower than {low}, most of it in {culprit.replace('_', ' ')} "
        f"(+{by_stage[culprit]:,.0f} ms); published WS and SIP were {100 * published:.0f} % "
        f"apart; {scale}."
    )


def turn_detection(paths: Sequence[Measured]) -> str:
    values = {m.name: v for m in paths if (v := _stage(m, "turn_detection")) is not None}
    if not values:
        return "No turn detection measured."
    low, high, spread = _spread(values)
    return (
        f"Not published separately. {_ms(values[low])} ({low}) to {_ms(values[high])} ({high}): "
        "the model's server VAD waits 500 ms of silence after the voice and decides on audio "
        "that arrives in 100 ms appends; "
        + (
            "the paths barely differ."
            if spread < 100
            else f"{high} hears the end of speech {spread:,.0f} ms later (its input path)."
        )
    )


def model(paths: Sequence[Measured], ctx: Context) -> str:
    values = {m.name: v for m in paths if (v := _stage(m, "model")) is not None}
    if not values:
        return "No model stage measured."
    _, _, spread = _spread(values)
    return (
        f"The simulator's seeded think time `{ctx.think}`: the same draws on every path (the "
        f"n-th call of each round shares one), so medians agree within {spread:,.0f} ms. "
        "OpenAI's 0.5–4 s is what makes the published totals ~2 s."
    )


def pacing(paths: Sequence[Measured]) -> str:
    values = {m.name: v for m in paths if (v := _stage(m, "pacing")) is not None}
    if not values:
        return "No pacing stage measured."
    low, high, _ = _spread(values)
    return (
        f"Not published. The pacer's start hold before the first frame: {_ms(values[low])} "
        f"({low}) to {_ms(values[high])} ({high}); it waits until the queued audio covers the "
        "longest stall it has seen (at most 250 ms), so bursty draws cost more."
    )


def transport(paths: Sequence[Measured]) -> str:
    values = {m.name: v for m in paths if (v := _stage(m, "transport")) is not None}
    if not values:
        return "No transport stage measured."
    parts = [f"{name} {_ms(v)}" for name, v in values.items()]
    note = ""
    if "twilio-ws (bridge)" in values:
        note = (
            " The bridge re-paces what it receives from the room with its own start hold "
            "(≥ 60 ms) before Twilio's buffer, which is transport seen from the agent."
        )
    return (
        "Not published per stage. First paced frame → first audio received: "
        f"{', '.join(parts)}.{note}"
    )


def playout(paths: Sequence[Measured]) -> str:
    values = {
        m.name: m.heard.playout_ms for m in paths if m.heard and m.heard.playout_ms is not None
    }
    parts = ", ".join(f"{k} {_ms(v)}" for k, v in values.items()) or "none measured"
    return (
        f"Not published. The receiver's buffer before the first audio plays: {parts}. On "
        "webrtc it is NetEq's mean jitter-buffer delay and already inside latency and "
        "transport (the SDK hands audio over only after its buffer); the SIP caller has none "
        "(it records by RTP timestamp) — a phone behind a carrier adds its own."
    )


def share(paths: Sequence[Measured]) -> str:
    values = {m.name: m.transport_share for m in paths if m.transport_share is not None}
    if not values:
        return "No transport share measured."
    under = [k for k, v in values.items() if v < TRANSPORT_SHARE]
    over = [k for k, v in values.items() if v >= TRANSPORT_SHARE]
    if not over:
        return (
            f"Agrees: transport is under 5 % of the latency on every path (at most "
            f"{_pct(max(values.values()))}), as published."
        )
    return (
        f"Agrees on {', '.join(under) or 'no path'}; {', '.join(over)} "
        f"{'is' if len(over) == 1 else 'are'} at {', '.join(_pct(values[k]) for k in over)}: "
        "the room paths add the SFU, a second jitter buffer or the bridge's re-pacing, which "
        "the published ~2 s totals (OpenAI's model time) would dilute below 5 % — with the "
        "simulator's shorter model stage the same milliseconds weigh more."
    )


def bandwidth_down(paths: Sequence[Measured], ctx: Context) -> str:
    wide = [m for m in paths if m.run.receiver == "opus" and m.heard]
    narrow = [m for m in paths if m.run.receiver != "opus" and m.heard]
    parts = []
    if narrow:
        fft = [m.heard.bandwidth_fft_bin_hz for m in narrow if m.heard]
        welch = [m.heard.bandwidth_welch_hz for m in narrow if m.heard]
        known_fft = [v for v in fft if v is not None]
        known_welch = [v for v in welch if v is not None]
        if known_fft and known_welch:
            parts.append(
                f"Telephony paths: FFT-bin {_hz(min(known_fft))}–{_hz(max(known_fft))}, near the "
                f"published ~{PSTN_BW_HZ:,.0f} Hz (the top 31.25 Hz bin below 4 kHz, where noise "
                f"and μ-law quantisation put an 8 kHz signal's rolloff); Welch over the speech "
                f"{_hz(min(known_welch))}–{_hz(max(known_welch))}: capped below 4 kHz, as published"
            )
    if wide:
        m = wide[0]
        assert m.heard is not None
        parts.append(
            f"webrtc: FFT-bin {_hz(m.heard.bandwidth_fft_bin_hz)}, Welch "
            f"{_hz(m.heard.bandwidth_welch_hz)} — wideband as published (~{BROWSER_BW_HZ:,.0f} "
            f"Hz), bounded by what the simulator's espeak-ng voice has itself (its clean reply: "
            f"FFT-bin {_hz(ctx.clean_fft_bin_hz)}, Welch {_hz(ctx.clean_welch_hz)}), not by "
            "the path"
        )
    return ". ".join(parts) + "." if parts else "No heard audio."


def bandwidth_up(paths: Sequence[Measured], ctx: Context) -> str:
    values = {m.name: m.upstream_welch_hz for m in paths if m.upstream_welch_hz is not None}
    if not values:
        return "No caller turn was recorded by the simulator."
    return (
        "Not published. What the model heard of the caller: "
        + ", ".join(f"{k} {_hz(v)}" for k, v in values.items())
        + f"; telephony paths deliver ≤ 4 kHz, webrtc whatever the caller's clip has (the "
        f"16 kHz CMU ARCTIC clips: {_hz(ctx.caller_welch_hz)})."
    )


def pesq(paths: Sequence[Measured]) -> str:
    parts = []
    stretch = ""
    for m in paths:
        if m.heard is None or m.heard.pesq_nb is None:
            continue
        nb, _ = chain_pesq(m.run.receiver)
        parts.append(f"{m.name} {m.heard.pesq_nb - nb:+.2f}")
        if m.heard.stretched_ms:
            stretch = (
                f" On {m.name} the receiver's jitter buffer also stretched or squeezed "
                f"{m.heard.stretched_ms:,.0f} ms of the replies to follow the jitter (NetEq's "
                "accelerate/decelerate), which PESQ scores as distortion."
            )
    if not parts:
        return "No complete reply to score."
    return (
        "Not published. Against the path's codecs alone (in brackets), the transport's cost "
        "in PESQ-NB: " + ", ".join(parts) + " (inserted silence and lost audio cost most); "
        "PESQ-WB scores the band a telephony path cannot carry as lost." + stretch
    )


def gaps(paths: Sequence[Measured]) -> str:
    values = {m.name: m.heard for m in paths if m.heard is not None}
    gappy = [f"{k} {h.gaps} ({h.gap_ms:,.0f} ms)" for k, h in values.items() if h.gaps]
    if not gappy:
        return (
            "With the pacer on no path had a gap. Published: webrtc was choppy until paced — "
            "see the A/B below for what the pacer changes on each path."
        )
    return (
        f"With the pacer on: {', '.join(gappy)} — silence the model's long stalls leave "
        "(longer than the pacer's 250 ms cap) or the transport inserted. Published: webrtc was "
        "choppy until paced; the A/B below shows what the pacer changes on each path."
    )


def length(paths: Sequence[Measured]) -> str:
    values = {
        m.name: r for m in paths if m.heard is not None and (r := m.heard.length_ratio) is not None
    }
    if not values:
        return "No complete reply heard."
    off = {k: v for k, v in values.items() if abs(v - 1) > 0.02}
    if not off:
        return "Not published. Every path delivered the whole reply, within 2 % of its length."
    return (
        "Not published. Replies that arrived longer carry added silence (also where the reply "
        "already paused, which the gap count does not see), shorter ones lost audio: "
        + ", ".join(f"{k} {v:.3f}" for k, v in off.items())
        + " (the A/B shows whether the unpaced arm has it too: then the path adds it, not the "
        "agent's pacer)."
    )


def clicks(paths: Sequence[Measured]) -> str:
    values = {
        m.name: r for m in paths if m.heard is not None and (r := m.heard.clicks_ratio) is not None
    }
    if not values:
        return "No clicks measured."
    worst = max(values, key=lambda k: values[k])
    return (
        f"Not published. Against the clean reply through the same codecs (×1.00 = nothing "
        f"added): {', '.join(f'{k} ×{v:.2f}' for k, v in values.items())}; the most on {worst}."
    )


def underruns(paths: Sequence[Measured]) -> str:
    parts = []
    for m in paths:
        if m.heard is not None:
            parts.append(f"{m.name} {m.heard.receiver_gaps}")
    return (
        "Not published. Times the caller's own playout ran dry mid-reply: "
        + ", ".join(parts)
        + " (Twilio-like buffer on twilio-ws; NetEq concealment events on webrtc; on sip, runs "
        "of packets that would have missed a 60 ms phone buffer — a model, not a phone)."
    )


def barge_in(paths: Sequence[Measured]) -> str:
    values = {
        m.name: c
        for m in paths
        if m.heard is not None and (c := m.heard.barge_in_cutoff_ms) is not None
    }
    if not values:
        return "No barge-in in this run."
    low, high, _ = _spread(values)
    return (
        f"Not published. From the caller's first word to the last agent audio: "
        f"{_ms(values[low])} ({low}) to {_ms(values[high])} ({high}) — the model's VAD needs "
        "its 300 ms of speech first; what the path still holds after the agent stops "
        "(Twilio's buffer unless cleared, the SFU, a jitter buffer) comes on top."
    )
