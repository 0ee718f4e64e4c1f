"""A hostile Twilio peer: real media streams carrying mutated message sequences.

Each stream starts from what Twilio would send — ``connected``, ``start`` (with a real stream
token from the webhook, or a forged one), 20 ms ``media``, a ``dtmf``, ``mark`` echoes, ``stop``
— and a seeded mutator spoils it as an attacker or a broken network would: events renamed,
fields dropped or given other types, payloads resized past every limit or made invalid base64,
text re-encoded (UTF-16, invalid UTF-8 in a text frame), binary frames, truncated JSON,
messages duplicated, swapped or dropped, and the socket closed at a random point. The same seed
gives the same streams, so a failure can be replayed.

What the sidecar must do with each stream is the contract :class:`StreamOutcome` records:
close it cleanly (a close code of its own choosing among :data:`CLEAN_CLOSES`) or drop the
messages it cannot use and carry on — never fail with an exception, never touch another call.
The test suite runs a few dozen streams; ``bench/fuzz_streams.py`` runs 10^5 messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import WSCloseCode, WSMsgType

from sip.twilio.twiml import STREAM_TOKEN_PARAM

#: how the sidecar may close a stream it was sent garbage on: a hang-up or ``stop`` (1000),
#: a protocol error or a bad token (1008), a frame over its size limit (1009); 1006 is the peer
#: (us) going away without a close frame; 1007 a text frame that is not UTF-8
CLEAN_CLOSES: Final = frozenset(
    {
        WSCloseCode.OK,
        WSCloseCode.POLICY_VIOLATION,
        WSCloseCode.MESSAGE_TOO_BIG,
        WSCloseCode.INVALID_TEXT,
        WSCloseCode.ABNORMAL_CLOSURE,
    }
)
FRAME: Final = b"\xff" * 160
#: after its last frame, how long a stream waits for the sidecar to close it before hanging up
LINGER_S: Final = 0.5


@dataclass(frozen=True)
class Frame:
    """One WebSocket frame: text, binary, or a text frame whose bytes are not UTF-8."""

    kind: str
    data: bytes


@dataclass
class StreamOutcome:
    call_sid: str
    sent: int = 0
    close_code: int | None = None
    closed_by_sidecar: bool = False
    """Whether the sidecar closed the stream (else we hung up, as a caller may at any time)."""
    error: str | None = None
    """What went wrong on our side of the socket, if anything did (a failed send is fine)."""
    mutations: dict[str, int] = field(default_factory=dict)


def _honest(call_sid: str, token: str, media: int, rng: random.Random) -> list[dict[str, Any]]:
    """What Twilio would send: numbered in order, a key press and a few mark echoes among the
    20 ms media, ``stop`` last."""
    sid = f"MZ{call_sid[2:]}"
    account = "AC" + "0" * 32
    start = {
        "streamSid": sid,
        "accountSid": account,
        "callSid": call_sid,
        "tracks": ["inbound"],
        "customParameters": {STREAM_TOKEN_PARAM: token, "From": "+15550100001"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    payload = base64.b64encode(FRAME).decode()
    events: list[tuple[str, dict[str, Any]]] = [("start", start)]
    for i in range(media):
        chunk = {"track": "inbound", "chunk": str(i + 1), "timestamp": str(i * 20)}
        events.append(("media", {**chunk, "payload": payload}))
        if rng.random() < 0.05:
            events.append(("mark", {"name": "1:160"}))
    events.insert(
        rng.randrange(1, len(events) + 1), ("dtmf", {"track": "inbound_track", "digit": "5"})
    )
    events.append(("stop", {"accountSid": account, "callSid": call_sid}))
    msgs: list[dict[str, Any]] = [{"event": "connected", "protocol": "Call", "version": "1.0.0"}]
    for seq, (event, body) in enumerate(events, start=1):
        msgs.append({"event": event, "sequenceNumber": str(seq), "streamSid": sid, event: body})
    return msgs


_ODD_VALUES: Final[tuple[Any, ...]] = (
    None, True, -1, 2**64, 1.5, "", "x" * 300, [], {}, [1, "2"], {"a": None}, "\x00", "\udcff",
)  # fmt: skip
_EVENTS: Final = ("connected", "start", "media", "mark", "dtmf", "stop", "clear", "", "MEDIA")


class Mutator:
    """Spoils honest streams; ``rate`` is the chance each message is mutated."""

    def __init__(self, seed: int, rate: float = 0.3) -> None:
        self.rng = random.Random(seed)
        self.rate = rate

    def _value(self) -> Any:
        return self.rng.choice(_ODD_VALUES)

    def _mutate_object(self, msg: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
        rng = self.rng
        msg = json.loads(json.dumps(msg))
        body = msg.get(msg.get("event", ""), None)
        choice = rng.randrange(7)
        if choice == 0:
            msg["event"] = rng.choice(_EVENTS)
            kind = "event"
        elif choice == 1:
            key = rng.choice(sorted(msg))
            del msg[key]
            kind = "field dropped"
        elif choice == 2:
            msg[rng.choice(sorted(msg))] = self._value()
            kind = "field type"
        elif choice == 3 and isinstance(body, dict) and body:
            body[rng.choice(sorted(body))] = self._value()
            kind = "inner field"
        elif choice == 4 and isinstance(body, dict) and "payload" in body:
            body["payload"] = rng.choice(
                ["@@not base64", "", "A" * rng.choice([4, 16000, 200_000])]
            )
            kind = "payload"
        elif choice == 5:
            msg["sequenceNumber"] = rng.choice(["0", "1", "-3", "99999999999999999999", 7])
            kind = "sequence"
        else:
            msg["streamSid"] = rng.choice(["MZother", "", None])
            kind = "stream sid"
        counts[kind] = counts.get(kind, 0) + 1
        return msg

    def _frame(self, msg: dict[str, Any], counts: dict[str, int]) -> Frame:
        rng = self.rng
        text = json.dumps(msg, separators=(",", ":"))
        if rng.random() >= self.rate / 3:
            return Frame("text", text.encode())
        choice = rng.randrange(5)
        kinds = ("binary", "utf-16", "bad utf-8", "truncated", "huge")
        counts[kinds[choice]] = counts.get(kinds[choice], 0) + 1
        if choice == 0:
            return Frame("binary", text.encode())
        if choice == 1:
            return Frame("binary", text.encode("utf-16"))
        if choice == 2:
            raw = text.encode()
            cut = rng.randrange(len(raw))
            return Frame("bad-utf8", raw[:cut] + b"\xff\xfe" + raw[cut:])
        if choice == 3:
            return Frame("text", text[: rng.randrange(len(text))].encode())
        return Frame("text", text.encode() + b" " * rng.choice([70_000, 1_100_000]))

    def frames(self, call_sid: str, token: str, media: int, counts: dict[str, int]) -> list[Frame]:
        """One stream's frames: honest ones, mutated, reordered, duplicated and dropped."""
        rng = self.rng
        msgs = _honest(call_sid, token, media, rng)
        out: list[dict[str, Any]] = []
        for msg in msgs:
            r = rng.random()
            if r < self.rate * 0.1:
                counts["dropped"] = counts.get("dropped", 0) + 1
                continue
            if r < self.rate * 0.2:
                counts["duplicated"] = counts.get("duplicated", 0) + 1
                out.append(msg)
            elif r < self.rate * 0.3 and out:
                counts["swapped"] = counts.get("swapped", 0) + 1
                out.insert(rng.randrange(len(out)), msg)
                continue
            out.append(self._mutate_object(msg, counts) if rng.random() < self.rate else msg)
        return [self._frame(m, counts) for m in out]

    def stop_early(self) -> float | None:
        """Where in the stream to close the socket ourselves (a share of it), if at all."""
        return self.rng.random() if self.rng.random() < 0.2 else None


_ENDED: Final = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})


async def stream_token(http: aiohttp.ClientSession, url: str, call_sid: str) -> str:
    """A real stream token, from the webhook as Twilio would get it."""
    async with http.post(f"{url}/twilio/voice", data={"CallSid": call_sid}) as resp:
        body = await resp.text()
    marker = f'name="{STREAM_TOKEN_PARAM}" value="'
    return body.split(marker)[1].split('"')[0] if marker in body else "forged"


async def hostile_stream(
    http: aiohttp.ClientSession,
    url: str,
    call_sid: str,
    mutator: Mutator,
    *,
    media: int = 40,
    real_token: bool = True,
) -> StreamOutcome:
    """Open a stream, send one mutated sequence, and record how the sidecar ended it."""
    outcome = StreamOutcome(call_sid)
    token = await stream_token(http, url, call_sid) if real_token else "forged.0.x"
    frames = mutator.frames(call_sid, token, media, outcome.mutations)
    early = mutator.stop_early()
    stop_at = len(frames) if early is None else int(early * len(frames))
    try:
        async with http.ws_connect(f"{url}/twilio/media", max_msg_size=0) as ws:
            for frame in frames[:stop_at]:
                if ws.closed:
                    break
                if frame.kind == "binary":
                    await ws.send_bytes(frame.data)
                elif frame.kind == "bad-utf8":
                    await ws.send_frame(frame.data, WSMsgType.TEXT)
                else:
                    await ws.send_str(frame.data.decode())
                outcome.sent += 1
            if early is None:
                # a sidecar that took ``stop`` (or hung up) closes now; else we hang up
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LINGER_S):
                        while (await ws.receive()).type not in _ENDED:
                            pass
            outcome.closed_by_sidecar = ws.closed
            outcome.close_code = ws.close_code
    except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome
