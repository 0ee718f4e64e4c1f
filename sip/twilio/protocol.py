"""Twilio Media Streams messages: typed, strictly parsed, serialised — no I/O here.

Both directions live here because trunkline speaks both: the sidecar parses what Twilio sends
and serialises what it sends back; the caller simulator does the opposite. Parsing is strict
(the sidecar faces the internet): every malformed message becomes a :class:`ProtocolError`
whose ``fatal`` flag says whether the stream can go on (drop the message) or must be closed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Final

MULAW: Final = "audio/x-mulaw"
SAMPLE_RATE: Final = 8000
FRAME_BYTES: Final = 160  # 20 ms of μ-law at 8 kHz, Twilio's normal media chunk
#: Largest media payload accepted from Twilio: 1 s of audio. Twilio sends 20 ms.
MAX_MEDIA_PAYLOAD: Final = SAMPLE_RATE
MAX_MARK_NAME: Final = 256


class ProtocolError(ValueError):
    """A message broke the protocol. ``fatal``: close the stream rather than drop the message."""

    def __init__(self, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


# --- Twilio → us ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True)
class Start:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str
    tracks: tuple[str, ...]
    custom_parameters: dict[str, str]
    encoding: str = MULAW
    sample_rate: int = SAMPLE_RATE
    channels: int = 1


@dataclass(frozen=True)
class Media:
    sequence_number: int
    stream_sid: str
    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True)
class Dtmf:
    sequence_number: int
    stream_sid: str
    track: str
    digit: str


@dataclass(frozen=True)
class Mark:
    """A mark echoed back by Twilio once the audio sent before it has played (or on clear)."""

    sequence_number: int
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Stop:
    sequence_number: int
    stream_sid: str
    account_sid: str
    call_sid: str


InboundMessage = Connected | Start | Media | Dtmf | Mark | Stop

DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} must be an object")
    return value


def _str(obj: dict[str, Any], key: str, where: str, *, max_len: int = 256) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where}.{key} must be a non-empty string")
    if len(value) > max_len:
        raise ProtocolError(f"{where}.{key} is longer than {max_len} characters")
    return value


def _uint(obj: dict[str, Any], key: str, where: str) -> int:
    """Twilio sends counters as decimal strings ("sequenceNumber": "2"); accept ints too."""
    value = obj.get(key)
    if isinstance(value, bool):
        raise ProtocolError(f"{where}.{key} must be a non-negative integer")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    raise ProtocolError(f"{where}.{key} must be a non-negative integer")


def _b64(value: Any, where: str, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(f"{where} must be a base64 string")
    if len(value) > 4 * ((max_bytes + 2) // 3):
        raise ProtocolError(f"{where} is larger than {max_bytes} bytes")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{where} is not valid base64") from exc
    if len(data) > max_bytes:
        raise ProtocolError(f"{where} is larger than {max_bytes} bytes")
    return data


def _parse_start(msg: dict[str, Any]) -> Start:
    start = _obj(msg.get("start"), "start")
    fmt = _obj(start.get("mediaFormat"), "start.mediaFormat")
    encoding = _str(fmt, "encoding", "start.mediaFormat")
    rate, channels = _uint(fmt, "sampleRate", "start.mediaFormat"), fmt.get("channels", 1)
    if encoding != MULAW or rate != SAMPLE_RATE or channels != 1:
        raise ProtocolError(
            f"unsupported media format {encoding}/{rate}/{channels}; expected {MULAW}/8000/1",
            fatal=True,
        )
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(tracks, list) or not all(isinstance(t, str) for t in tracks):
        raise ProtocolError("start.tracks must be a list of strings", fatal=True)
    params = start.get("customParameters") or {}
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 1024 for k, v in params.items()
    ):
        raise ProtocolError("start.customParameters must map strings to strings", fatal=True)
    stream_sid = _str(msg, "streamSid", "start")
    if start.get("streamSid", stream_sid) != stream_sid:
        raise ProtocolError("start.streamSid differs from the message's streamSid", fatal=True)
    return Start(
        sequence_number=_uint(msg, "sequenceNumber", "start"),
        stream_sid=stream_sid,
        account_sid=_str(start, "accountSid", "start"),
        call_sid=_str(start, "callSid", "start"),
        tracks=tuple(tracks),
        custom_parameters=dict(params),
    )


def _parse_media(msg: dict[str, Any], max_payload: int) -> Media:
    media = _obj(msg.get("media"), "media")
    payload = _b64(media.get("payload"), "media.payload", max_payload)
    if not payload:
        raise ProtocolError("media.payload is empty")
    return Media(
        sequence_number=_uint(msg, "sequenceNumber", "media"),
        stream_sid=_str(msg, "streamSid", "media"),
        track=str(media.get("track") or "inbound"),
        chunk=_uint(media, "chunk", "media"),
        timestamp_ms=_uint(media, "timestamp", "media"),
        payload=payload,
    )


def _parse_dtmf(msg: dict[str, Any]) -> Dtmf:
    dtmf = _obj(msg.get("dtmf"), "dtmf")
    digit = _str(dtmf, "digit", "dtmf", max_len=1)
    if digit not in DTMF_DIGITS:
        raise ProtocolError(f"dtmf.digit {digit!r} is not a DTMF digit")
    track = dtmf.get("track")
    return Dtmf(
        sequence_number=_uint(msg, "sequenceNumber", "dtmf"),
        stream_sid=_str(msg, "streamSid", "dtmf"),
        track=track if isinstance(track, str) else "inbound_track",
        digit=digit,
    )


def _has_escapes(text: str | bytes) -> bool:
    return (b"\\u" in text) if isinstance(text, bytes) else ("\\u" in text)


def _check_unicode(msg: dict[str, Any]) -> None:
    """A frame is UTF-8, but a JSON escape can still make a lone surrogate: text no log line,
    signature or room name can carry. Only messages with escapes are checked (Twilio's have
    none), so media costs nothing."""
    try:
        json.dumps(msg, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError("message has text that is not Unicode (a lone surrogate)") from exc


def parse_inbound(text: str | bytes, *, max_payload: int = MAX_MEDIA_PAYLOAD) -> InboundMessage:
    """Parse one message Twilio sent us. Raises :class:`ProtocolError`."""
    try:
        if isinstance(text, str):
            text.encode("utf-8")  # what a WebSocket text frame guarantees; a caller may not
        msg = json.loads(text)
    except (json.JSONDecodeError, UnicodeError) as exc:
        raise ProtocolError("message is not valid JSON") from exc
    msg = _obj(msg, "message")
    if _has_escapes(text):
        _check_unicode(msg)
    event = msg.get("event")
    if event == "media":
        return _parse_media(msg, max_payload)
    if event == "mark":
        mark = _obj(msg.get("mark"), "mark")
        return Mark(
            sequence_number=_uint(msg, "sequenceNumber", "mark"),
            stream_sid=_str(msg, "streamSid", "mark"),
            name=_str(mark, "name", "mark", max_len=MAX_MARK_NAME),
        )
    if event == "connected":
        return Connected(
            protocol=_str(msg, "protocol", "connected"), version=str(msg.get("version", ""))
        )
    if event == "start":
        return _parse_start(msg)
    if event == "dtmf":
        return _parse_dtmf(msg)
    if event == "stop":
        stop = msg.get("stop") or {}
        stop = _obj(stop, "stop")
        return Stop(
            sequence_number=_uint(msg, "sequenceNumber", "stop"),
            stream_sid=_str(msg, "streamSid", "stop"),
            account_sid=str(stop.get("accountSid", "")),
            call_sid=str(stop.get("callSid", "")),
        )
    if not isinstance(event, str):
        raise ProtocolError("message has no 'event' string")
    raise ProtocolError(f"unknown event {event[:40]!r}")


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def serialize_inbound(msg: InboundMessage) -> str:
    """Serialise a Twilio-side message (used by the caller simulator)."""
    if isinstance(msg, Media):
        return _dump(
            {
                "event": "media",
                "sequenceNumber": str(msg.sequence_number),
                "streamSid": msg.stream_sid,
                "media": {
                    "track": msg.track,
                    "chunk": str(msg.chunk),
                    "timestamp": str(msg.timestamp_ms),
                    "payload": base64.b64encode(msg.payload).decode("ascii"),
                },
            }
        )
    if isinstance(msg, Mark):
        return _dump(
            {
                "event": "mark",
                "sequenceNumber": str(msg.sequence_number),
                "streamSid": msg.stream_sid,
                "mark": {"name": msg.name},
            }
        )
    if isinstance(msg, Connected):
        return _dump({"event": "connected", "protocol": msg.protocol, "version": msg.version})
    if isinstance(msg, Start):
        return _dump(
            {
                "event": "start",
                "sequenceNumber": str(msg.sequence_number),
                "streamSid": msg.stream_sid,
                "start": {
                    "streamSid": msg.stream_sid,
                    "accountSid": msg.account_sid,
                    "callSid": msg.call_sid,
                    "tracks": list(msg.tracks),
                    "customParameters": msg.custom_parameters,
                    "mediaFormat": {
                        "encoding": msg.encoding,
                        "sampleRate": msg.sample_rate,
                        "channels": msg.channels,
                    },
                },
            }
        )
    if isinstance(msg, Dtmf):
        return _dump(
            {
                "event": "dtmf",
                "sequenceNumber": str(msg.sequence_number),
                "streamSid": msg.stream_sid,
                "dtmf": {"track": msg.track, "digit": msg.digit},
            }
        )
    return _dump(
        {
            "event": "stop",
            "sequenceNumber": str(msg.sequence_number),
            "streamSid": msg.stream_sid,
            "stop": {"accountSid": msg.account_sid, "callSid": msg.call_sid},
        }
    )


# --- us → Twilio ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutMedia:
    stream_sid: str
    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class OutMark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class OutClear:
    stream_sid: str


OutboundMessage = OutMedia | OutMark | OutClear


def serialize_outbound(msg: OutboundMessage) -> str:
    if isinstance(msg, OutMedia):
        payload = base64.b64encode(msg.payload).decode("ascii")
        return _dump({"event": "media", "streamSid": msg.stream_sid, "media": {"payload": payload}})
    if isinstance(msg, OutMark):
        return _dump({"event": "mark", "streamSid": msg.stream_sid, "mark": {"name": msg.name}})
    return _dump({"event": "clear", "streamSid": msg.stream_sid})


def parse_outbound(
    text: str | bytes, *, max_payload: int = 10 * 60 * SAMPLE_RATE
) -> OutboundMessage:
    """Parse a message the application sent to Twilio (used by the caller simulator)."""
    try:
        msg = _obj(json.loads(text), "message")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError("message is not valid JSON") from exc
    event = msg.get("event")
    stream_sid = _str(msg, "streamSid", str(event))
    if event == "media":
        media = _obj(msg.get("media"), "media")
        return OutMedia(stream_sid, _b64(media.get("payload"), "media.payload", max_payload))
    if event == "mark":
        mark = _obj(msg.get("mark"), "mark")
        return OutMark(stream_sid, _str(mark, "name", "mark", max_len=MAX_MARK_NAME))
    if event == "clear":
        return OutClear(stream_sid)
    raise ProtocolError(f"unknown event {str(event)[:40]!r}")
