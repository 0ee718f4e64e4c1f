"""What the simulator says: a small deterministic script, replaceable by a JSON file.

The simulator has no language model and no speech recognition, so its replies cannot depend on
what the caller said. They follow a script instead: the greeting answers the first response,
each later response takes the next turn, and ``fallback`` answers once the turns run out. A turn
may also call a tool (e.g. ``end_call``) so the agent's tools run end to end; the reply that
follows the tool's output is the turn's ``after_call`` line.

JSON form (every key optional; omitted keys keep the default script's value)::

    {
      "greeting": "Hello, how can I help?",
      "turns": [
        {"say": "Sure, one moment."},
        {"say": "Goodbye!", "call": {"name": "end_call", "arguments": {}}, "after_call": ""}
      ],
      "fallback": "I have nothing more to say."
    }
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


class ScriptError(ValueError):
    """A script file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class Turn:
    say: str
    call: ToolCall | None = None
    #: what to say once the tool's output comes back (empty: a response with no output)
    after_call: str = ""


@dataclass(frozen=True)
class Script:
    greeting: str
    turns: tuple[Turn, ...]
    fallback: str

    def reply(self, index: int) -> Turn:
        """Reply number ``index``: 0 is the greeting, then the turns, then the fallback."""
        if index == 0:
            return Turn(self.greeting)
        if index <= len(self.turns):
            return self.turns[index - 1]
        return Turn(self.fallback)

    @classmethod
    def load(cls, path: str | Path) -> Script:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ScriptError(f"cannot read script {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise ScriptError(f"script {path} is not valid JSON: {e}") from None
        try:
            return cls.from_json(raw)
        except ScriptError as e:
            raise ScriptError(f"script {path}: {e}") from None

    @classmethod
    def from_json(cls, raw: object) -> Script:
        data = _object(raw, "the script")
        _only(data, "the script", {"greeting", "turns", "fallback"})
        script = DEFAULT_SCRIPT
        if "greeting" in data:
            script = replace(script, greeting=_text(data["greeting"], "greeting"))
        if "fallback" in data:
            script = replace(script, fallback=_text(data["fallback"], "fallback"))
        if "turns" in data:
            turns = data["turns"]
            if not isinstance(turns, list):
                raise ScriptError("'turns' must be a list")
            script = replace(script, turns=tuple(_turn(t, i) for i, t in enumerate(turns)))
        return script


def _object(raw: object, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ScriptError(f"{what} must be a JSON object")
    return raw


def _only(data: dict[str, Any], what: str, allowed: set[str]) -> None:
    if unknown := sorted(set(data) - allowed):
        raise ScriptError(f"{what} has unknown keys {unknown}; allowed: {sorted(allowed)}")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScriptError(f"'{where}' must be a string")
    return value


def _turn(raw: object, index: int) -> Turn:
    where = f"turns[{index}]"
    data = _object(raw, where)
    _only(data, where, {"say", "call", "after_call"})
    if "say" not in data:
        raise ScriptError(f"{where} needs 'say'")
    call = None
    if (call_raw := data.get("call")) is not None:
        call_data = _object(call_raw, f"{where}.call")
        _only(call_data, f"{where}.call", {"name", "arguments"})
        name = _text(call_data.get("name"), f"{where}.call.name")
        if not name:
            raise ScriptError(f"'{where}.call.name' must not be empty")
        arguments = _object(call_data.get("arguments", {}), f"{where}.call.arguments")
        call = ToolCall(name, arguments)
    return Turn(
        say=_text(data["say"], f"{where}.say"),
        call=call,
        after_call=_text(data.get("after_call", ""), f"{where}.after_call"),
    )


DEFAULT_SCRIPT = Script(
    greeting=(
        "Hello, you have reached trunkline. This is the local simulator speaking, "
        "because no OpenAI key is set. How can I help you today?"
    ),
    turns=(
        Turn(
            "I heard you, but I am a scripted simulator, so I cannot understand the words. "
            "Please go on."
        ),
        Turn("Thank you. That is my second scripted reply. One more turn and I will hang up."),
        Turn(
            "Thanks for calling trunkline. Goodbye!",
            call=ToolCall("end_call"),
        ),
    ),
    fallback="I have nothing more scripted to say.",
)
