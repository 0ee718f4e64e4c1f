"""A real browser calls the agent through the call page, on the real local stack.

Headless Chromium opens the page ``trunkline serve`` serves in bridge mode and presses Call; a
WAV file is its microphone. The worker (``python agent.py dev``, the simulator as model) is
dispatched by the page's token and answers. What the page played — the agent's track after the
browser's jitter buffer and decoder — and what its microphone captured are recorded inside the
page (recorder.js) and judged against the model's own audio (playout.py):

1. The caller's microphone is muted as soon as the call is up (the page's Mute stops the
   capture), so the agent greets into silence; unmuting starts a new capture, which plays the
   WAV from its start: 3 s of silence, a CMU ARCTIC sentence, 3.2 s of silence, another one.
2. The agent answers the first sentence; the second starts while that answer is playing (the
   answer begins about 1.7 s after the caller stops and runs 5.6 s): a barge-in.
3. The agent answers the second sentence; the page hangs up, and the agent leaves the room.

Timing is bounded generously (a shared 2-core machine); the figures are printed and written
to ``figures.json`` in the test's directory for bench/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page

from agent.sim.script import DEFAULT_SCRIPT
from agent.sim.tts import SAMPLE_RATE as MODEL_RATE
from agent.sim.tts import synthesize
from lab.bandwidth import welch_bandwidth
from lab.pcm import FloatArray
from tests.realstack.clients import identities
from tests.waiting import eventually
from trunkline.resample import resample
from trunkline.stack import LocalStack
from trunkline.turnlog import read_turnlogs

from . import playout
from .browser import RATE, Recording, chromium, install_recorder, read_recording
from .call_rig import Servers, microphone_file, require_built_page, worker_and_sidecar

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(360)]

#: silence before the first sentence: the first capture is stopped well within it
LEAD_S = 3.0
#: from the end of the first sentence to the start of the second: the answer to the first has
#: been sounding for about 1.5 s by then (it starts ~1.7 s after the caller stops: 0.5 s of
#: silence for the turn detection, the simulator's seeded think time, pacing and transport)
BARGE_IN_AFTER_S = 3.2
#: dispatch (a job process is forked on demand in `dev`) plus the greeting, on a busy machine
GREETED_WITHIN_S = 120.0
#: the reply to the barge-in sentence has ended by then (it ends ~10 s after the unmute)
CALL_DONE_WITHIN_S = 60.0
#: from the caller's first sound to the agent's last, at the page (observed 0.3–0.7 s)
BARGE_IN_STOP_S = 1.5
#: the page's latency figures against the test's own reading of the same audio
LATENCY_AGREEMENT_S = 0.15
#: replies: played against the model's audio
AUDIBLE_RATIO = (0.85, 1.15)
MIN_ENVELOPE_CORRELATION = 0.75
#: most of a speech signal's energy lies in 100 Hz – 4 kHz (−1 dB = 79 %)
MIN_VOICE_BAND_DB = -1.0
#: how much weaker the energy above 4 kHz may be than in the model's audio (an 8 kHz telephone
#: path removes it entirely: −60 dB or less)
MAX_HIGH_BAND_LOSS_DB = 6.0
#: the interrupted reply must have lost at least this much of its sound
MIN_CUT_S = 1.0
#: A reply's first 100 ms are its onset. There the page has played a hole of 20–50 ms in about
#: half the runs, after the first 40 ms of sound — with the agent's DTX on or off, and with DTX
#: off the browser counted no concealment, so the silence was in what the agent sent (most
#: likely where the pacer's first frames meet RoomIO's 50 ms re-chunking and its AudioSource
#: runs dry once; not pursued here). Reported in the figures (``onset_holes_ms``) and bounded;
#: the body of a reply must have none.
ONSET_S = 0.1
MAX_ONSET_HOLE_MS = 60
#: A hole the browser's jitter buffer filled because a packet came late is the network's (here:
#: one loaded machine carrying server, worker and browser), not the agent's: none was lost, the
#: agent's pacer sent on time. One such stretch, no longer than a couple of Opus frames, is
#: tolerated per call when the browser's own concealment accounts for it; anything more, or any
#: hole the browser did not conceal (silence that arrived as such), fails.
MAX_CONCEALED_HOLE_MS = 50.0
MAX_CONCEALED_HOLES = 1


async def shown_states(page: Page) -> list[str]:
    events = await page.evaluate("window.__recorder.events")
    return [value for _, kind, value in events if kind == "state"]


async def wait_for_states(page: Page, wanted: list[str], within_s: float) -> None:
    """Until the page has shown the agent in each of ``wanted``, in order, from now on."""
    since = len(await shown_states(page))
    async with asyncio.timeout(within_s):
        while True:
            shown = iter((await shown_states(page))[since:])
            if all(any(s == want for s in shown) for want in wanted):
                return
            await asyncio.sleep(0.1)


async def wait_quiet_listening(page: Page, seconds: float) -> None:
    """Until the page has shown `listening` for ``seconds`` in a row."""
    async with asyncio.timeout(seconds + 30):
        while True:
            events = await page.evaluate("window.__recorder.events")
            now: float = await page.evaluate("window.__recorder.ctx.currentTime")
            states = [(t, value) for t, kind, value in events if kind == "state"]
            if states and states[-1][1] == "listening" and now - states[-1][0] >= seconds:
                return
            await asyncio.sleep(0.2)


@dataclass
class Call:
    recording: Recording
    latency_ms: dict[int, int]
    captions: list[tuple[str, str]]
    status_after_hang_up: str
    inbound_audio: list[dict[str, Any]]
    """The page's inbound-rtp audio statistics (its jitter buffer) just before hanging up."""


async def place_call(page: Page, servers: Servers, stack: LocalStack, run_dir: Path) -> Call:
    await install_recorder(page)
    await page.goto(servers.page_url)
    await page.wait_for_selector("#call:enabled")
    await page.evaluate("window.__recorder.ready")
    async with page.expect_response("**/call/token") as token_response:
        await page.click("#call")
    room: str = (await (await token_response.value).json())["room"]
    await page.wait_for_selector("#mute:enabled")
    await page.click("#mute")
    await page.wait_for_selector("#mute[aria-pressed=true]:enabled")
    await wait_for_states(page, ["speaking", "listening"], GREETED_WITHIN_S)
    await page.click("#mute")
    # the answer to the first sentence (cut short by the second), then the answer to that
    await wait_for_states(page, ["speaking", "listening"] * 2, CALL_DONE_WITHIN_S)
    await wait_quiet_listening(page, 1.5)
    latency = {
        int(row["turn"]): int(row["ms"])
        for row in await page.eval_on_selector_all(
            "#turns tr[data-turn]",
            "rows => rows.map(r => ({turn: r.dataset.turn, ms: r.cells[1].dataset.ms ?? -1}))",
        )
    }
    captions = [
        (str(line["from"]), str(line["text"]))
        for line in await page.eval_on_selector_all(
            "#captions li", "items => items.map(i => ({from: i.dataset.from, text: i.textContent}))"
        )
    ]
    inbound = await page.evaluate("window.__inboundAudio()")
    await page.screenshot(path=str(run_dir / "in-call.png"))
    await page.click("#hangup")
    await page.wait_for_selector("#call:enabled")
    status = await page.inner_text("#status")

    async def room_empty() -> bool:  # the caller left; the job ends and the agent leaves
        return not await identities(stack, room)

    await eventually(room_empty, within_s=30, every_s=0.2)
    return Call(await read_recording(page), latency, captions, status, inbound)


def model_reply(turn: int) -> FloatArray:
    """What the simulator sent for reply ``turn`` (0 is the greeting), at the page's rate."""
    speech = synthesize(DEFAULT_SCRIPT.reply(turn).say)
    return playout.trimmed(resample(speech.pcm, MODEL_RATE, RATE), RATE)


def cut(recording: Recording, span: tuple[float, float]) -> FloatArray:
    start, end = (round(t * RATE) for t in span)
    return playout.trimmed(recording.played[start:end], RATE)


async def test_a_browser_calls_the_agent_hears_it_and_interrupts_it(
    livekit_stack: LocalStack, tmp_path: Path
) -> None:
    require_built_page()
    microphone = microphone_file(
        tmp_path / "microphone.wav",
        [(LEAD_S, "arctic_a0007"), (BARGE_IN_AFTER_S, "arctic_a0009")],
    )
    async with (
        worker_and_sidecar(livekit_stack, tmp_path) as servers,
        chromium(microphone, tmp_path / "profile") as browser,
    ):
        page = await browser.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        try:
            call = await place_call(page, servers, livekit_stack, tmp_path)
            call.recording.save(tmp_path / "call.wav")
            figures, failed = judge(call, counted_underruns(servers.turn_log))
            (tmp_path / "figures.json").write_text(json.dumps(figures, indent=2))
            print(f"browser call figures ({tmp_path / 'figures.json'}): {json.dumps(figures)}")
            assert not problems + failed, "\n".join(problems + failed)
        except BaseException as exc:
            shot = tmp_path / "failure.png"
            if not page.is_closed():
                await page.screenshot(path=str(shot))
            exc.add_note(
                f"screenshot of the page: {shot}; the call's audio (left: played, right: "
                f"microphone): {tmp_path / 'call.wav'}\n{servers.log_tails()}"
            )
            raise


def holes_in(played: FloatArray, sent: FloatArray) -> tuple[list[playout.Hole], list[int]]:
    """Holes in the body of a reply, and the lengths (ms) of those in its onset (see ONSET_S)."""
    holes = playout.find_holes(played, sent, RATE)
    onset = [round(h.duration_s * 1000) for h in holes if h.start_s < ONSET_S]
    return [h for h in holes if h.start_s >= ONSET_S], onset


def judge(call: Call, underruns: dict[str, tuple[int, float]]) -> tuple[dict[str, Any], list[str]]:
    """The figures of the recorded call, and every check they fail (empty: all passed).
    ``underruns``: per reply, the underruns the agent's pacer counted and their seconds.

    Everything is measured before anything is judged, so a failing run still reports all its
    figures."""
    rec = call.recording
    failed: list[str] = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            failed.append(message)

    check(call.status_after_hang_up == "Call ended.", f"after Hang up: {call.status_after_hang_up}")
    agent_lines = [text for who, text in call.captions if who == "agent"]
    check(
        bool(agent_lines) and agent_lines[0].startswith("Hello, you have reached trunkline."),
        f"the greeting's caption is missing: {call.captions}",
    )
    check(
        sum(who == "you" for who, _ in call.captions) == 2,
        f"expected a caption for each of the caller's two turns: {call.captions}",
    )
    replies = playout.audible_spans(rec.played, RATE, bridge_s=0.8)
    said = playout.audible_spans(rec.mic, RATE, bridge_s=0.6)
    if len(replies) != 3 or len(said) != 2:
        failed.append(f"expected 3 replies and 2 sentences; played {replies}, said {said}")
        return {"played_spans": replies, "said_spans": said}, failed
    greeting, interrupted, answer = replies
    first, second = said
    check(greeting[1] < first[0], "the first sentence reached the page during the greeting")

    figures: dict[str, Any] = {"replies": {}, "onset_holes_ms": []}
    all_holes: list[tuple[str, playout.Hole]] = []
    for name, span, turn in (("greeting", greeting, 0), ("answer", answer, 2)):
        played, sent = cut(rec, span), model_reply(turn)
        ratio = playout.audible_s(played, RATE) / playout.audible_s(sent, RATE)
        correlation = playout.envelope_correlation(played, sent, RATE)
        voice_band = playout.band_share_db(played, RATE, 100, 4000)
        holes, onset = holes_in(played, sent)
        figures["onset_holes_ms"] += onset
        figures["replies"][name] = {
            "seconds": round(len(played) / RATE, 3),
            "model_seconds": round(len(sent) / RATE, 3),
            "audible_ratio": round(ratio, 3),
            "envelope_correlation": round(correlation, 3),
            "voice_band_db": round(voice_band, 2),
            "holes": [(round(h.start_s, 3), round(h.duration_s, 3)) for h in holes],
        }
        check(AUDIBLE_RATIO[0] <= ratio <= AUDIBLE_RATIO[1], f"{name}: audible ratio {ratio:.2f}")
        check(correlation >= MIN_ENVELOPE_CORRELATION, f"{name}: correlation {correlation:.2f}")
        check(voice_band >= MIN_VOICE_BAND_DB, f"{name}: voice band {voice_band:.1f} dB")
        all_holes += [(name, hole) for hole in holes]

    # the barge-in: the second sentence starts while the first answer sounds, and stops it
    played, sent = cut(rec, interrupted), model_reply(1)
    holes, onset = holes_in(played, sent)
    figures["onset_holes_ms"] += onset
    lost = playout.audible_s(sent, RATE) - playout.audible_s(played, RATE)
    stop_s = interrupted[1] - second[0]
    figures["replies"]["interrupted"] = {
        "seconds": round(len(played) / RATE, 3),
        "barge_in_after_s": round(second[0] - interrupted[0], 3),
        "lost_audible_s": round(lost, 3),
        "holes": [(round(h.start_s, 3), round(h.duration_s, 3)) for h in holes],
    }
    figures["barge_in_stop_ms"] = round(stop_s * 1000)
    check(
        interrupted[0] + 0.3 < second[0] < interrupted[1],
        f"the second sentence ({second}) did not start while the reply sounded ({interrupted})",
    )
    check(stop_s <= BARGE_IN_STOP_S, f"the agent went on for {stop_s:.2f} s after the barge-in")
    check(lost >= MIN_CUT_S, f"the interrupted reply lost only {lost:.2f} s of sound")
    all_holes += [("interrupted reply", hole) for hole in holes]
    check(
        all(ms <= MAX_ONSET_HOLE_MS for ms in figures["onset_holes_ms"]),
        f"a hole at a reply's start is longer than {MAX_ONSET_HOLE_MS} ms: "
        f"{figures['onset_holes_ms']}",
    )

    # wideband: against the model's own audio, band by band (espeak's 99 % bandwidth is only
    # ~5 kHz, so the 99 % figure cannot be "well above 4 kHz" even on a perfect path)
    played_all = np.concatenate([cut(rec, greeting), cut(rec, answer)])
    sent_all = np.concatenate([model_reply(0), model_reply(2)])
    figures["high_bands_db"] = {}
    for low, high in ((4000, 8000), (8000, 11000)):
        p_db = playout.band_share_db(played_all, RATE, low, high)
        s_db = playout.band_share_db(sent_all, RATE, low, high)
        figures["high_bands_db"][f"{low}-{high}"] = {
            "played": round(p_db, 1),
            "model": round(s_db, 1),
        }
        check(
            p_db >= s_db - MAX_HIGH_BAND_LOSS_DB,
            f"{low}-{high} Hz holds {p_db:.1f} dB of the energy; the model's audio {s_db:.1f} dB",
        )
    figures["bandwidth_99_hz"] = {
        "played": round(welch_bandwidth(played_all, RATE)),
        "model": round(welch_bandwidth(sent_all, RATE)),
    }

    # the page's latency column against the same audio read here
    measured = {1: interrupted[0] - first[1], 2: answer[0] - second[1]}
    figures["latency_ms"] = {"page": call.latency_ms, "test": {}}
    for turn, seconds in measured.items():
        figures["latency_ms"]["test"][turn] = round(seconds * 1000)
        page_ms = call.latency_ms.get(turn)
        check(
            page_ms is not None and abs(page_ms / 1000 - seconds) <= LATENCY_AGREEMENT_S,
            f"turn {turn}: the page shows {page_ms} ms, the audio says {seconds * 1000:.0f} ms",
        )
    figures["jitter_buffer"] = jitter_buffer(call.inbound_audio)
    figures["pacer_underruns"] = {name: list(counted) for name, counted in underruns.items()}
    unexplained = holes_not_concealed(
        holes_not_counted(all_holes, underruns), figures["jitter_buffer"]
    )
    check(not unexplained, f"quiet holes the model's audio did not have: {unexplained}")
    return figures, failed


#: each reply's turn number in the worker's turn log
REPLY_TURNS = {"greeting": 0, "interrupted reply": 1, "answer": 2}
#: a hole is measured on the played audio; the silence the pacer inserted is whole frames
COUNTED_HOLE_SLACK_S = 0.02


def counted_underruns(turn_log: Path) -> dict[str, tuple[int, float]]:
    """Per reply, the gaps the agent's pacer counted and their seconds: underruns (a true
    underrun inserts silence and counts it) and late gaps (frames handed to RoomIO after its
    source ran dry) — the product's own account of a hole, as its turn log and metrics report
    it."""
    records = read_turnlogs([turn_log]).records if turn_log.exists() else []
    by_turn = {r.turn: r for r in records}
    out: dict[str, tuple[int, float]] = {}
    for name, turn in REPLY_TURNS.items():
        record = by_turn.get(turn)
        if record is not None:
            ms = record.pacer.get("underrun_ms", 0.0)
            seconds = float(ms) / 1000 if isinstance(ms, int | float) else 0.0
            seconds += record.late_gap_ms() / 1000
            out[name] = (record.underruns() + record.late_gaps(), seconds)
    return out


def holes_not_counted(
    holes: list[tuple[str, playout.Hole]], underruns: dict[str, tuple[int, float]]
) -> list[tuple[str, playout.Hole]]:
    """The holes left once each reply's are set against the silence its pacer counted: a
    reply's holes are accounted for when they are no more than its counted underruns and last
    no longer than the silence counted (heard = counted, issue 16)."""
    left: list[tuple[str, playout.Hole]] = []
    for name in {name for name, _ in holes}:
        mine = [hole for reply, hole in holes if reply == name]
        count, seconds = underruns.get(name, (0, 0.0))
        total = sum(hole.duration_s for hole in mine)
        if not (len(mine) <= count and total <= seconds + COUNTED_HOLE_SLACK_S * len(mine)):
            left += [(name, hole) for hole in mine]
    return left


def holes_not_concealed(
    holes: list[tuple[str, playout.Hole]], jitter: dict[str, Any]
) -> list[tuple[str, playout.Hole]]:
    """The holes the browser's jitter buffer does not account for (see MAX_CONCEALED_HOLE_MS):
    all of them when a packet was lost, when there are too many or too long, or when together
    they last longer than what the browser says it concealed."""
    concealed_s = float(jitter.get("concealedSamples", 0)) / RATE
    lost = int(jitter.get("packetsLost", 0))
    total_s = sum(hole.duration_s for _, hole in holes)
    explained = (
        lost == 0
        and len(holes) <= MAX_CONCEALED_HOLES
        and all(hole.duration_s * 1000 <= MAX_CONCEALED_HOLE_MS for _, hole in holes)
        and total_s <= concealed_s + 0.005 * len(holes)
    )
    return [] if explained else holes


def jitter_buffer(inbound: list[dict[str, Any]]) -> dict[str, Any]:
    """The browser's own account of the agent's track: concealment and time-stretching."""
    if len(inbound) != 1:
        return {"inbound_audio_streams": len(inbound)}
    stats = inbound[0]
    keys = (
        "packetsReceived",
        "packetsLost",
        "concealmentEvents",
        "concealedSamples",
        "insertedSamplesForDeceleration",
        "removedSamplesForAcceleration",
    )
    out: dict[str, Any] = {k: stats.get(k) for k in keys}
    if stats.get("jitterBufferEmittedCount"):
        out["mean_delay_ms"] = round(
            1000 * stats["jitterBufferDelay"] / stats["jitterBufferEmittedCount"], 1
        )
    return out


@pytest.mark.parametrize(
    ("holes_ms", "concealed_ms", "lost", "explained"),
    [
        ([], 0, 0, True),
        ([35], 36, 0, True),  # one late packet's stretch, concealed by the browser
        ([35], 10, 0, False),  # silence that arrived as silence: the sender's
        ([35], 36, 1, False),  # a lost packet
        ([30, 30], 80, 0, False),  # more than one
        ([70], 80, 0, False),  # longer than a couple of Opus frames
    ],
)
def test_only_one_short_hole_the_browser_concealed_is_put_down_to_the_machine(
    holes_ms: list[int], concealed_ms: int, lost: int, explained: bool
) -> None:
    holes = [("answer", playout.Hole(0.4, ms / 1000)) for ms in holes_ms]
    jitter = {"concealedSamples": concealed_ms * RATE // 1000, "packetsLost": lost}
    assert (holes_not_concealed(holes, jitter) == []) is explained
