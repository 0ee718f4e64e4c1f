"""The conversation store and the input buffer: ordering, truncation, retention."""

from __future__ import annotations

import base64

import pytest

from agent.sim.conversation import MAX_AUDIO_ITEMS, Conversation, Item
from agent.sim.input_buffer import InputBuffer
from agent.sim.protocol import InvalidRequest

MS = 48  # bytes of PCM16 at 24 kHz per millisecond


def item(item_id: str, role: str = "user", audio_ms: int | None = None) -> Item:
    part = {"type": "output_audio" if role == "assistant" else "input_text", "transcript": "hi"}
    audio = None if audio_ms is None else bytearray(audio_ms * MS)
    return Item({"id": item_id, "type": "message", "role": role, "content": [part]}, audio)


def test_insert_at_end_at_root_and_after_an_item() -> None:
    conv = Conversation()
    assert conv.insert(item("a"), None) is None
    assert conv.insert(item("c"), None) == "a"
    assert conv.insert(item("b"), "a") == "a"
    assert conv.insert(item("z"), "root") is None
    assert [i.id for i in conv.items] == ["z", "a", "b", "c"]
    assert conv.last is not None and conv.last.id == "c"


def test_insert_errors_carry_codes_and_event_ids() -> None:
    conv = Conversation()
    conv.insert(item("a"), None)
    with pytest.raises(InvalidRequest) as exc:
        conv.insert(item("a"), None, "e1")
    assert (exc.value.code, exc.value.event_id) == ("item_create_duplicate_item_id", "e1")
    with pytest.raises(InvalidRequest) as exc:
        conv.insert(item("b"), "missing", "e2")
    assert exc.value.code == "item_create_invalid_previous_item_id"
    assert [i.id for i in conv.items] == ["a"]


def test_delete() -> None:
    conv = Conversation()
    conv.insert(item("a"), None)
    conv.delete("a", None)
    assert conv.items == []
    with pytest.raises(InvalidRequest) as exc:
        conv.delete("a", "e3")
    assert exc.value.code == "item_delete_invalid_item_id"


def test_truncate_cuts_audio_at_the_heard_position_and_drops_the_transcript() -> None:
    conv = Conversation()
    conv.insert(item("a", "assistant", audio_ms=2000), None)
    conv.truncate("a", 0, 1234, None)
    truncated = conv.get("a")
    assert truncated is not None and truncated.audio_ms == 1234
    assert truncated.data["content"][0]["transcript"] == ""


@pytest.mark.parametrize(
    ("target", "content_index", "end_ms", "match"),
    [
        ("a", 0, 2001, "already shorter than 2001ms"),
        ("a", 0, -1, "already shorter"),
        ("a", 1, 10, "content_index"),
        ("u", 0, 10, "Only assistant messages"),
        ("x", 0, 10, "not found"),
    ],
)
def test_truncate_rejects_what_the_service_rejects(
    target: str, content_index: int, end_ms: int, match: str
) -> None:
    conv = Conversation()
    conv.insert(item("a", "assistant", audio_ms=2000), None)
    conv.insert(item("u", "user"), None)
    with pytest.raises(InvalidRequest, match=match):
        conv.truncate(target, content_index, end_ms, "e4")
    a = conv.get("a")
    assert a is not None and a.audio_ms == 2000


def test_retrieve_form_includes_audio_as_base64() -> None:
    it = item("a", "assistant", audio_ms=10)
    assert it.audio is not None
    it.audio[:2] = b"\x01\x02"
    full = it.with_audio()
    assert base64.b64decode(full["content"][0]["audio"])[:2] == b"\x01\x02"
    assert "audio" not in it.data["content"][0]


def test_input_buffer_addresses_session_time() -> None:
    buf = InputBuffer()
    buf.append(bytes(1000 * MS))
    assert buf.end_ms == pytest.approx(1000)
    span = buf.take(200, 700)
    assert len(span) == 500 * MS
    assert buf.held_ms == pytest.approx(300)
    buf.append(bytes(500 * MS))
    assert buf.end_ms == pytest.approx(1500)
    assert len(buf.take(600, 1000)) == 300 * MS  # 600–700 ms were already taken


def test_input_buffer_keeps_only_recent_audio_between_turns() -> None:
    buf = InputBuffer()
    buf.append(bytes(5000 * MS))
    buf.keep_last(1300)
    assert buf.held_ms == pytest.approx(1300)
    assert buf.end_ms == pytest.approx(5000)
    assert len(buf.take_all()) == 1300 * MS
    assert buf.held_ms == 0


def test_only_recent_items_keep_their_audio() -> None:
    conv = Conversation()
    for n in range(MAX_AUDIO_ITEMS + 3):
        conv.insert(item(f"i{n}", "assistant", audio_ms=10), None)
    kept = [i.id for i in conv.items if i.audio is not None]
    assert kept == [f"i{n}" for n in range(3, MAX_AUDIO_ITEMS + 3)]
    assert len(conv.items) == MAX_AUDIO_ITEMS + 3  # the items themselves all remain
    with pytest.raises(InvalidRequest, match="with audio"):
        conv.truncate("i0", 0, 5, None)
