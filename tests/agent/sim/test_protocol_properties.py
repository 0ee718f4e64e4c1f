"""The simulator's client-event parser over generated input: an event or an error, always.

A client may send anything; the service answers a bad event with one ``error`` event and goes
on. So :func:`parse_client_event` must return a validated event or raise
:class:`InvalidRequest` — never another exception — for any text, and in particular for objects
shaped like each documented client event with fields right, wrong or missing; and the error it
raises must itself be a valid server ``error`` event.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from agent.sim.protocol import (
    CLIENT_EVENTS,
    InvalidRequest,
    decode_audio,
    error_event,
    parse_client_event,
)

from .harness import check_server_event

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
#: field names the client events use, so generated objects reach deep into their models
field_names = st.sampled_from(
    [
        "event_id", "session", "item", "item_id", "audio", "content_index", "audio_end_ms",
        "response", "previous_item_id", "type", "role", "content", "text", "instructions",
        "tools", "turn_detection", "metadata", "conversation", "output_modalities", "call_id",
        "output", "name", "arguments", "audio_start_ms",
    ]
) | st.text(max_size=10)  # fmt: skip


@st.composite
def client_shaped(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = draw(st.dictionaries(field_names, values, max_size=6))
    if draw(st.integers(0, 9)):
        event["type"] = draw(st.sampled_from(sorted(CLIENT_EVENTS)) | values)
    return event


texts = st.one_of(
    st.text(max_size=200),
    values.map(json.dumps),
    client_shaped().map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
)


@given(texts)
def test_any_text_is_an_event_or_one_invalid_request_error(text: str) -> None:
    try:
        event = parse_client_event(text)
    except InvalidRequest as err:
        check_server_event(error_event(err))
        return
    assert isinstance(event, BaseModel)
    assert type(event) in CLIENT_EVENTS.values()


@given(st.text(max_size=100))
def test_any_audio_text_is_decoded_or_refused(b64: str) -> None:
    try:
        pcm = decode_audio(b64, None)
    except InvalidRequest as err:
        check_server_event(error_event(err))
        return
    assert len(pcm) % 2 == 0
