"""The Realtime wire protocol: parse client events, shape server events and errors.

Client events are validated with the OpenAI SDK's own pydantic models (``openai.types.realtime``,
a dependency of livekit-agents), so the simulator accepts exactly what the real service
documents: unknown fields pass through (the models allow extras), and a missing or mistyped
field becomes an ``invalid_request_error`` naming the parameter, as the real service reports it.
Server events are plain dicts; the test suite validates every one the simulator sends against
the SDK's server-event models.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any, get_args

from openai.types.realtime import RealtimeClientEvent
from pydantic import BaseModel, ValidationError

Event = dict[str, Any]


def types_by_name(union: Any) -> dict[str, type[BaseModel]]:
    members = get_args(get_args(union)[0])  # Annotated[Union[...], ...] → the Union's members
    table: dict[str, type[BaseModel]] = {}
    for model in members:
        (name,) = get_args(model.model_fields["type"].annotation)
        table[name] = model
    return table


#: Every client event type the Realtime API defines, with its model.
CLIENT_EVENTS: dict[str, type[BaseModel]] = types_by_name(RealtimeClientEvent)

#: The largest audio one append may carry (the real service's documented limit is 15 MiB).
MAX_APPEND_BYTES = 15 * 1024 * 1024


@dataclass
class InvalidRequest(Exception):
    """A client event the service rejects; becomes one ``error`` event, the session lives on."""

    message: str
    code: str | None = None
    param: str | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        return self.message


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def event(type_: str, **fields: Any) -> Event:
    """A server event with a fresh ``event_id``."""
    return {"type": type_, "event_id": new_id("event"), **fields}


def error_event(err: InvalidRequest) -> Event:
    return _error("invalid_request_error", err.message, err.code, err.param, err.event_id)


def server_error_event(message: str) -> Event:
    """The service's answer when it fails itself rather than rejecting the request."""
    return _error("server_error", message, None, None, None)


def _error(
    type_: str, message: str, code: str | None, param: str | None, event_id: str | None
) -> Event:
    fields = {"code": code, "message": message, "param": param, "event_id": event_id}
    return event("error", error={"type": type_, **fields})


def parse_client_event(text: str) -> BaseModel:
    """Validate one WebSocket text message as a client event, or raise ``InvalidRequest``."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request: {e}", code="invalid_json"
        ) from None
    if not isinstance(raw, dict):
        raise InvalidRequest(
            "Invalid event: expected a JSON object with a 'type' field.", code="invalid_type"
        )
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    type_ = raw.get("type")
    if type_ is None:
        raise InvalidRequest(
            "Missing required parameter: 'type'.",
            code="missing_required_parameter",
            param="type",
            event_id=event_id,
        )
    model = CLIENT_EVENTS.get(type_) if isinstance(type_, str) else None
    if model is None:
        supported = ", ".join(f"'{name}'" for name in CLIENT_EVENTS)
        raise InvalidRequest(
            f"Invalid value: '{type_}'. Supported values are: {supported}.",
            code="invalid_value",
            param="type",
            event_id=event_id,
        )
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise _from_validation(e, event_id) from None


def _from_validation(e: ValidationError, event_id: str | None) -> InvalidRequest:
    # a union (an item, a session, a turn detection) reports errors for every member it tried;
    # the member with the fewest errors, then the deepest, is the one the client meant
    groups: dict[str, list[Any]] = {}
    every = e.errors()
    for err in every:
        tag = next((str(p) for p in err["loc"] if _is_union_tag(p)), "")
        groups.setdefault(tag, []).append(err)
    errors = min(groups.values(), key=lambda g: (len(g), -max(len(err["loc"]) for err in g)))
    first = max(errors, key=lambda err: len(err["loc"]))
    param = _param(first["loc"])
    if first["type"] == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            code="missing_required_parameter",
            param=param,
            event_id=event_id,
        )
    if first["type"] == "literal_error":
        # each union member allows different literals here; together they are the choices
        choices = (
            str(err.get("ctx", {}).get("expected", ""))
            for err in every
            if err["type"] == "literal_error" and _param(err["loc"]) == param
        )
        expected = " or ".join(dict.fromkeys(choices))
        message = f"Invalid value for '{param}': expected {expected}."
    else:
        message = f"Invalid value for '{param}': {first['msg']}."
    return InvalidRequest(message, code="invalid_value", param=param, event_id=event_id)


def _param(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc if not _is_union_tag(p))


def _is_union_tag(part: int | str) -> bool:
    # pydantic names the union member it tried, e.g. "RealtimeConversationItemUserMessage"
    return isinstance(part, str) and part[:1].isupper()


def decode_audio(b64: str, event_id: str | None) -> bytes:
    """Base64 PCM16 from an append, checked the way the service checks it."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            "Invalid 'audio'. Expected base64-encoded audio bytes.",
            code="invalid_value",
            param="audio",
            event_id=event_id,
        ) from None
    if len(data) % 2:
        raise InvalidRequest(
            f"Invalid 'audio': PCM16 audio needs whole 2-byte samples, got {len(data)} bytes.",
            code="invalid_value",
            param="audio",
            event_id=event_id,
        )
    if len(data) > MAX_APPEND_BYTES:
        raise InvalidRequest(
            f"Invalid 'audio': {len(data)} bytes exceeds the {MAX_APPEND_BYTES} byte limit.",
            code="invalid_value",
            param="audio",
            event_id=event_id,
        )
    return data


def encode_audio(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")
