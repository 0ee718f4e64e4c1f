"""The caller simulator reads TwiML as Twilio acts on it: the first verb that moves the call."""

from __future__ import annotations

import pytest

from lab.caller.twiml import Hangup, Redirect, SipDial, Stream, TwimlError, parse
from sip.twilio.twiml import apology, connect_stream, dial, dial_sip, hangup, redirect


def test_what_the_sidecar_answers_reads_back_as_what_it_means() -> None:
    assert parse(connect_stream("wss://h/twilio/media", {"a": "1 & 2"})) == Stream(
        "wss://h/twilio/media", {"a": "1 & 2"}
    )
    assert parse(apology("Sorry.")) == Hangup("Sorry.")
    assert parse(hangup()) == Hangup()
    assert parse(redirect("https://b/twilio/voice?x=1&y=2")) == Redirect(
        "https://b/twilio/voice?x=1&y=2"
    )
    assert parse(
        dial_sip(
            "sip:+1@h;transport=tcp",
            username="u",
            password="p",
            action="voice?d=1",
            headers={"X-A": "b c"},
        )
    ) == SipDial("sip:+1@h;transport=tcp", "u", "p", {"X-A": "b c"}, "voice?d=1")


def test_verbs_after_the_one_that_moves_the_call_are_not_reached() -> None:
    body = (
        "<Response><Say>Hi</Say><Say>there</Say><Redirect>/next</Redirect>"
        '<Connect><Stream url="wss://never"/></Connect></Response>'
    )
    assert parse(body) == Redirect("/next")
    assert parse("<Response><Say>Bye</Say><Hangup/><Redirect>/x</Redirect></Response>") == Hangup(
        "Bye"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not xml", "not XML"),
        ("<Html/>", "not <Response>"),
        ("<Response><Connect/></Response>", "without a <Stream url>"),
        ("<Response><Redirect> </Redirect></Response>", "without a URL"),
        (dial("+15551234567"), "only <Dial><Sip> is simulated"),
    ],
)
def test_what_the_simulator_cannot_act_on_is_an_error_saying_why(body: str, why: str) -> None:
    with pytest.raises(TwimlError, match=why):
        parse(body)
