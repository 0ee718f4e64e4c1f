"""The reply script: order of replies, JSON loading and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.sim.script import DEFAULT_SCRIPT, Script, ScriptError, ToolCall, Turn


def test_replies_go_greeting_turns_then_fallback() -> None:
    script = Script("hi", (Turn("one"), Turn("two", call=ToolCall("end_call"))), "done")
    assert [script.reply(i).say for i in range(5)] == ["hi", "one", "two", "done", "done"]
    assert script.reply(2).call == ToolCall("end_call")
    assert script.reply(0).call is None


def test_default_script_ends_the_call_through_a_tool() -> None:
    calls = [t.call for t in DEFAULT_SCRIPT.turns if t.call is not None]
    assert calls == [ToolCall("end_call")]
    assert DEFAULT_SCRIPT.greeting and DEFAULT_SCRIPT.fallback


def test_loads_a_json_script_and_keeps_defaults_for_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "script.json"
    path.write_text(
        json.dumps(
            {
                "greeting": "Hello from a file.",
                "turns": [
                    {"say": "First."},
                    {
                        "say": "Transferring.",
                        "call": {"name": "transfer", "arguments": {"to": "+15550100"}},
                        "after_call": "You are being transferred.",
                    },
                ],
            }
        )
    )
    script = Script.load(path)
    assert script.greeting == "Hello from a file."
    assert script.fallback == DEFAULT_SCRIPT.fallback
    assert script.turns[1] == Turn(
        "Transferring.", ToolCall("transfer", {"to": "+15550100"}), "You are being transferred."
    )
    assert script.turns[1].call is not None
    assert json.loads(script.turns[1].call.arguments_json) == {"to": "+15550100"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"greting": "x"}', "unknown keys ['greting']"),
        ('{"turns": {}}', "'turns' must be a list"),
        ('{"turns": [{"text": "x"}]}', "turns[0] has unknown keys"),
        ('{"turns": [{}]}', "turns[0] needs 'say'"),
        ('{"turns": [{"say": 5}]}', "'turns[0].say' must be a string"),
        ('{"turns": [{"say": "x", "call": {"name": ""}}]}', "must not be empty"),
        ('{"turns": [{"say": "x", "call": {"name": "f", "arguments": []}}]}', "must be a JSON"),
    ],
)
def test_bad_scripts_name_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ScriptError) as exc:
        Script.load(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_missing_file_is_a_script_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read script"):
        Script.load(tmp_path / "absent.json")
