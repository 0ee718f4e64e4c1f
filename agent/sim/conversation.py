"""The server-side conversation: ordered items, as the Realtime service keeps them.

Items are held in the JSON form the service reports (``conversation.item.added``), without audio
payloads; audio content is kept beside the item as PCM16 so truncation and retrieval work on
samples. Client errors (unknown ids, duplicate ids, bad truncation points) raise
``InvalidRequest`` with the service's error codes so the client can match them to its request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .protocol import InvalidRequest, encode_audio

SAMPLE_RATE = 24000
#: items whose audio is kept; older items keep their text but drop their samples, so a long
#: call's memory stays bounded (only recent replies are ever truncated or retrieved)
MAX_AUDIO_ITEMS = 16


@dataclass
class Item:
    data: dict[str, Any]
    #: PCM16 mono 24 kHz of the item's audio content part, if it has one
    audio: bytearray | None = None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def type(self) -> str:
        return str(self.data.get("type"))

    @property
    def role(self) -> str | None:
        return self.data.get("role")

    @property
    def audio_ms(self) -> int:
        return 0 if self.audio is None else len(self.audio) * 1000 // (2 * SAMPLE_RATE)

    def with_audio(self) -> dict[str, Any]:
        """The item as ``conversation.item.retrieve`` returns it: audio included, base64."""
        data = {**self.data, "content": [dict(part) for part in self.data.get("content", [])]}
        if self.audio is not None:
            for part in data["content"]:
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = encode_audio(bytes(self.audio))
        return data


@dataclass
class Conversation:
    items: list[Item] = field(default_factory=list)

    def get(self, item_id: str) -> Item | None:
        return next((item for item in self.items if item.id == item_id), None)

    def require(self, item_id: str, event_id: str | None, code: str) -> Item:
        item = self.get(item_id)
        if item is None:
            raise InvalidRequest(
                f"Item with item_id '{item_id}' not found in the conversation.",
                code=code,
                param="item_id",
                event_id=event_id,
            )
        return item

    @property
    def last(self) -> Item | None:
        return self.items[-1] if self.items else None

    def insert(
        self, item: Item, previous_item_id: str | None, event_id: str | None = None
    ) -> str | None:
        """Place ``item`` after ``previous_item_id`` (None: at the end, "root": first).

        Returns the id of the item it now follows, as ``conversation.item.added`` reports it.
        """
        if self.get(item.id) is not None:
            raise InvalidRequest(
                f"Item with id '{item.id}' already exists in the conversation.",
                code="item_create_duplicate_item_id",
                param="item.id",
                event_id=event_id,
            )
        if previous_item_id is None:
            index = len(self.items)
        elif previous_item_id == "root":
            index = 0
        else:
            previous = self.get(previous_item_id)
            if previous is None:
                raise InvalidRequest(
                    f"Previous item with id '{previous_item_id}' not found.",
                    code="item_create_invalid_previous_item_id",
                    param="previous_item_id",
                    event_id=event_id,
                )
            index = self.items.index(previous) + 1
        self.items.insert(index, item)
        with_audio = [i for i in self.items if i.audio is not None]
        for old in with_audio[: max(0, len(with_audio) - MAX_AUDIO_ITEMS)]:
            old.audio = None
        return self.items[index - 1].id if index > 0 else None

    def delete(self, item_id: str, event_id: str | None) -> None:
        self.items.remove(self.require(item_id, event_id, "item_delete_invalid_item_id"))

    def truncate(
        self, item_id: str, content_index: int, audio_end_ms: int, event_id: str | None
    ) -> None:
        """Cut an assistant message's audio at what the user heard, and drop its transcript.

        The service removes the transcript so no text the user never heard stays in context.
        """
        item = self.require(item_id, event_id, "item_truncate_invalid_item_id")
        if item.type != "message" or item.role != "assistant" or item.audio is None:
            raise InvalidRequest(
                "Only assistant messages with audio can be truncated.",
                code="item_truncate_invalid_item_id",
                param="item_id",
                event_id=event_id,
            )
        if content_index != 0:
            raise InvalidRequest(
                f"Invalid 'content_index': the item has no audio content part {content_index}.",
                code="invalid_value",
                param="content_index",
                event_id=event_id,
            )
        if not 0 <= audio_end_ms <= item.audio_ms:
            raise InvalidRequest(
                f"Audio content of {item.audio_ms}ms is already shorter than {audio_end_ms}ms",
                code="invalid_value",
                param="audio_end_ms",
                event_id=event_id,
            )
        del item.audio[audio_end_ms * SAMPLE_RATE // 1000 * 2 :]
        for part in item.data.get("content", []):
            if part.get("type") == "output_audio":
                part["transcript"] = ""
