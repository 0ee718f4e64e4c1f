"""Log lines: JSON off a terminal, text on one, and the call named on every line of a call."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from trunkline import cli
from trunkline.logs import (
    bind_call,
    call_context,
    configure_logging,
    current_call,
    summarize_log,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_call_s_lines_name_it_also_from_its_tasks_and_other_libraries(
    restore_root: None,
) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)

    async def the_call() -> None:
        bind_call(call_id="CA1", path="twilio-ws")
        logging.getLogger("sip.sidecar").info("call started")

        async def inner() -> None:  # a task the call starts: the agent session, say
            logging.getLogger("livekit.agents").warning("from a library, %s", "inside")

        await asyncio.create_task(inner())
        bind_call(room="twilio-CA1")  # learnt later: added, the rest kept
        logging.getLogger("sip.bridge").info("joined")

    await asyncio.gather(the_call(), asyncio.sleep(0))
    logging.getLogger("sip.sidecar").info("between calls")
    got = lines(out)
    assert [g["message"] for g in got] == [
        "call started",
        "from a library, inside",
        "joined",
        "between calls",
    ]
    assert got[0]["call_id"] == "CA1" and got[0]["path"] == "twilio-ws" and "room" not in got[0]
    assert got[1]["call_id"] == "CA1" and got[1]["logger"] == "livekit.agents"
    assert got[1]["level"] == "WARNING"
    assert (got[2]["call_id"], got[2]["room"], got[2]["path"]) == ("CA1", "twilio-CA1", "twilio-ws")
    assert not {"call_id", "room", "path"} & set(got[3])  # the call's task ended: no leak
    assert all(str(g["time"]).endswith("+00:00") for g in got)


async def test_two_calls_at_once_each_keep_their_own_id(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)

    async def call(sid: str) -> None:
        bind_call(call_id=sid)
        for _ in range(3):
            logging.getLogger("x").info(sid)
            await asyncio.sleep(0)

    await asyncio.gather(call("CA1"), call("CA2"))
    got = lines(out)
    assert len(got) == 6 and all(g["call_id"] == g["message"] for g in got)


def test_call_context_is_undone_after_the_block(restore_root: None) -> None:
    with call_context(call_id="CA9"):
        assert current_call() is not None
    assert current_call() is None


@pytest.mark.expect_log(r"^ERROR t: failed$")
def test_extra_fields_exceptions_and_odd_values_stay_one_json_line(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("debug", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("t").exception("failed", extra={"attempt": 2, "obj": object()})
    (line,) = out.getvalue().splitlines()
    got = json.loads(line)
    assert got["message"] == "failed" and got["attempt"] == 2
    assert "ValueError: boom" in got["exception"] and str(got["obj"]).startswith("<object")


def test_a_terminal_gets_text_lines_with_the_call_at_the_end(restore_root: None) -> None:
    term = Terminal()
    configure_logging("info", stream=term)
    with call_context(call_id="CA5", path="sip"):
        logging.getLogger("sip.x").info("hello")
    logging.getLogger("sip.x").info("plain")
    first, second = term.getvalue().splitlines()
    assert first.endswith("INFO    sip.x: hello [call_id=CA5 path=sip]")
    assert second.endswith("sip.x: plain")
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_the_format_can_be_forced_either_way(restore_root: None) -> None:
    term = Terminal()
    configure_logging("info", "json", stream=term)
    logging.getLogger("t").info("x")
    assert json.loads(term.getvalue())["message"] == "x"
    out = io.StringIO()
    configure_logging("info", "text", stream=out)
    logging.getLogger("t").info("y")
    assert out.getvalue().rstrip().endswith("t: y")


def test_configuring_again_replaces_the_handler(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", stream=first)
    configure_logging("info", stream=second)
    logging.getLogger("t").info("once")
    assert first.getvalue() == "" and len(lines(second)) == 1


def test_a_bad_log_format_from_the_environment_is_a_clear_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_root: None
) -> None:
    monkeypatch.setenv("TRUNKLINE_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", "turns.jsonl"])
    assert exc.value.code == 2
    assert "TRUNKLINE_LOG_FORMAT='xml' is not one of auto, json, text" in capsys.readouterr().err


def test_request_by_request_chatter_of_libraries_shows_only_at_debug(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    logging.getLogger("twilio.http_client").info("-- BEGIN Twilio API Request --")
    logging.getLogger("twilio.http_client").warning("retrying")
    assert [line["message"] for line in lines(out)] == ["retrying"]
    configure_logging("debug", stream=out)
    logging.getLogger("twilio.http_client").info("GET Request: ...")
    assert lines(out)[-1]["message"] == "GET Request: ..."


@pytest.mark.expect_log(r"^ERROR t: failed$", r"^ERROR asyncio: Task was destroyed")
def test_a_log_summary_counts_levels_tracebacks_and_asyncio_leftovers_in_either_format(
    restore_root: None,
) -> None:
    for log_format in ("json", "text"):
        out = io.StringIO()
        configure_logging("info", log_format, stream=out)
        log = logging.getLogger("t")
        log.info("fine")
        log.warning("odd")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        logging.getLogger("asyncio").error("Task was destroyed but it is pending!")
        text = out.getvalue() + "Traceback (most recent call last):\n  File x\nKeyError: 1\n"
        summary = summarize_log(text)
        assert summary.levels == {"INFO": 1, "WARNING": 1, "ERROR": 2}, log_format
        assert summary.errors == 2
        assert summary.tracebacks == 2  # the logged exception and the uncaught one
        assert summary.leftovers == 1
        first, second = summary.problems
        assert "failed" in first and "Task was destroyed" in second
