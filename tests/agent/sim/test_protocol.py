"""Client event parsing and the service-shaped errors for bad input."""

from __future__ import annotations

import base64
import json

import pytest
from openai.types.realtime import ConversationItemCreateEvent, InputAudioBufferAppendEvent

from agent.sim.protocol import (
    CLIENT_EVENTS,
    MAX_APPEND_BYTES,
    InvalidRequest,
    decode_audio,
    error_event,
    parse_client_event,
)

from .harness import check_server_event


def reject(text: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as exc:
        parse_client_event(text)
    return exc.value


def test_every_documented_client_event_is_known() -> None:
    assert set(CLIENT_EVENTS) == {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "output_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "response.create",
        "response.cancel",
    }


def test_parses_a_valid_event_and_ignores_unknown_fields() -> None:
    ev = parse_client_event(
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAA=", "future_field": {"x": 1}})
    )
    assert isinstance(ev, InputAudioBufferAppendEvent)
    assert ev.audio == "AAA="


def test_malformed_json() -> None:
    err = reject('{"type": "response.create"')
    assert err.code == "invalid_json"
    assert "could not parse the JSON" in err.message


@pytest.mark.parametrize("text", ["[]", '"response.create"', "42", "null"])
def test_non_object_json(text: str) -> None:
    assert reject(text).code == "invalid_type"


def test_missing_type() -> None:
    err = reject('{"event_id": "e1"}')
    assert (err.code, err.param, err.event_id) == ("missing_required_parameter", "type", "e1")


def test_unknown_type_lists_the_supported_ones() -> None:
    err = reject('{"type": "response.make", "event_id": "e2"}')
    assert (err.code, err.param, err.event_id) == ("invalid_value", "type", "e2")
    assert "'response.make'" in err.message and "'response.create'" in err.message


def test_missing_field_names_its_path() -> None:
    err = reject('{"type": "conversation.item.truncate", "item_id": "i", "content_index": 0}')
    assert (err.code, err.param) == ("missing_required_parameter", "audio_end_ms")


def test_wrong_type_names_its_path() -> None:
    err = reject(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "threshold": "x"}}
                    },
                },
            }
        )
    )
    assert err.param == "session.audio.input.turn_detection.threshold"
    assert err.code == "invalid_value"


def test_bad_item_role_lists_the_allowed_roles() -> None:
    err = reject(
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "bot", "content": []},
            }
        )
    )
    assert err.param == "item.role"
    assert all(role in err.message for role in ("'system'", "'user'", "'assistant'"))


def test_function_call_output_item_parses() -> None:
    ev = parse_client_event(
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
            }
        )
    )
    assert isinstance(ev, ConversationItemCreateEvent)


def test_audio_must_be_base64_of_whole_samples() -> None:
    assert decode_audio(base64.b64encode(b"\x01\x00\x02\x00").decode(), None) == b"\x01\x00\x02\x00"
    bad = pytest.raises(InvalidRequest)
    with bad as exc:
        decode_audio("not base64!", "e3")
    assert (exc.value.param, exc.value.event_id) == ("audio", "e3")
    with pytest.raises(InvalidRequest, match="whole 2-byte samples, got 3 bytes"):
        decode_audio(base64.b64encode(b"abc").decode(), None)
    with pytest.raises(InvalidRequest, match="byte limit"):
        decode_audio(base64.b64encode(bytes(MAX_APPEND_BYTES + 2)).decode(), None)


def test_error_event_has_the_service_shape() -> None:
    ev = error_event(InvalidRequest("nope", code="invalid_value", param="type", event_id="e4"))
    check_server_event(ev)
    assert ev["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "nope",
        "param": "type",
        "event_id": "e4",
    }
