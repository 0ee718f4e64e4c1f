"""One number, both paths: the webhook's per-call choice, its ``<Dial><Sip>``, the fallback
when the SIP leg fails, and the simulated caller following it all as Twilio would (with a
stand-in SIP dialer: the real SIP user agent plugs in at ``SipDialer``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from lab.caller.call import (
    CallerOptions,
    CallNotConnected,
    SimulatedCaller,
    SipDialOutcome,
)
from lab.caller.results import CadenceStats, CallResult
from lab.caller.twiml import Hangup, Redirect, SipDial, Stream, parse
from sip.sidecar.app import STATE, SidecarState, create_app
from sip.sidecar.backend import CallControl, CallInfo
from sip.sidecar.link import TwilioLink
from sip.sidecar.routing import choose, dialled_user, share_point
from tests.sip.sidecar.test_app import RecordingBackend
from tests.waiting import eventually
from trunkline import cli
from trunkline.child import free_port
from trunkline.config import ConfigError, PathSplit, settings_from_env
from trunkline.config import SipDial as DialSettings

SIP = {
    "LIVEKIT_SIP_URI": "sip:abc123.sip.livekit.cloud",
    "TRUNKLINE_SIP_USERNAME": "trunkline",
    "TRUNKLINE_SIP_PASSWORD": "s3cret-digest",
}
DIAL = DialSettings("sip:abc123.sip.livekit.cloud;transport=tcp", "u", "p")
NUMBER = "+15550100002"
#: caller speech: one 20 ms frame is all a call to the recording backend needs
SPEECH = [[b"\xff" * 160]]


def call_sid(i: int) -> str:
    return f"CA{i:032x}"


@dataclass
class Sidecar:
    client: TestClient[web.Request, web.Application]
    state: SidecarState
    backends: list[RecordingBackend] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def webhook(self, sid: str, query: str = "", **form: str) -> str:
        data = {"CallSid": sid, "From": "+15550100001", "To": NUMBER, **form}
        resp = await self.client.post(f"/twilio/voice{query}", data=data)
        assert resp.status == 200, await resp.text()
        return await resp.text()


@pytest.fixture
async def sidecar(request: pytest.FixtureRequest) -> AsyncIterator[Sidecar]:
    env = {**SIP, **getattr(request, "param", {})}
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    app = create_app(settings_from_env(env), factory)
    async with TestClient(TestServer(app)) as client:
        yield Sidecar(client, app[STATE], backends)


def routed(path: str, why: str) -> float:
    return (
        REGISTRY.get_sample_value("trunkline_calls_routed_total", {"path": path, "why": why}) or 0
    )


def test_the_share_point_is_stable_and_spread_evenly() -> None:
    points = [share_point(call_sid(i)) for i in range(4000)]
    assert points == [share_point(call_sid(i)) for i in range(4000)]  # every replica agrees
    assert all(0 <= p < 1 for p in points)
    counts = np.histogram(points, bins=10, range=(0, 1))[0]
    assert counts.min() > 330 and counts.max() < 470  # 400 expected per tenth


@pytest.mark.parametrize(
    ("to", "user"),
    [
        ("+15550100", "+15550100"),
        ("1001", "1001"),
        ("", "trunkline"),
        ("+1@evil.example", "trunkline"),
        ("+1;transport=udp", "trunkline"),
        ("+1<sip:x>", "trunkline"),
        ("\u00e9\u00e9", "trunkline"),
    ],
)
def test_only_a_plain_dialled_number_reaches_the_sip_uri(to: str, user: str) -> None:
    assert dialled_user({"To": to}) == user


def test_a_parameter_beats_the_caller_lists_which_beat_the_share() -> None:
    split = PathSplit(1.0, frozenset({"+1001"}), frozenset({"+1002"}), DIAL)
    assert choose(split, "CA1", "+1002", "sip").why == "parameter"
    assert choose(split, "CA1", "+1001", "twilio-ws").path == "twilio-ws"
    assert choose(split, "CA1", "+1002", None) == choose(split, "CA1", "+1002", None)
    assert choose(split, "CA1", "+1002", None).path == "twilio-ws"
    assert choose(split, "CA1", "+1001", None).why == "caller"
    assert choose(split, "CA1", "+1003", None).path == "sip"
    assert choose(PathSplit(0.0, dial=DIAL), "CA1", "+1003", None).path == "twilio-ws"
    # asked for sip where it is not configured: the caller is still served, by streaming
    unconfigured = choose(PathSplit(), "CA1", "+1003", "sip")
    assert (unconfigured.path, unconfigured.why) == ("twilio-ws", "not_configured")


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "0.5"}], indirect=True)
async def test_one_number_splits_many_calls_by_the_configured_share(sidecar: Sidecar) -> None:
    before = routed("sip", "share"), routed("twilio-ws", "share")
    paths = []
    for i in range(400):
        answer = parse(await sidecar.webhook(call_sid(i)))
        paths.append("sip" if isinstance(answer, SipDial) else "twilio-ws")
        assert isinstance(answer, SipDial | Stream)
    sip = paths.count("sip")
    assert 160 <= sip <= 240, sip  # 200 expected; 4 standard deviations either way
    assert routed("sip", "share") - before[0] == sip
    assert routed("twilio-ws", "share") - before[1] == 400 - sip
    # a retried webhook (Twilio retries, another replica answers) keeps the call's path
    again = [isinstance(parse(await sidecar.webhook(call_sid(i))), SipDial) for i in range(20)]
    assert again == [p == "sip" for p in paths[:20]]


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_the_sip_path_dials_livekit_for_the_dialled_number_with_the_trunk_s_credentials(
    sidecar: Sidecar,
) -> None:
    answer = parse(await sidecar.webhook("CA1"))
    assert answer == SipDial(
        uri=f"sip:{NUMBER}@abc123.sip.livekit.cloud;transport=tcp",
        username="trunkline",
        password="s3cret-digest",
        headers={"X-Trunkline-Call-Sid": "CA1"},
        action="voice?trunkline_dial=done",
    )
    assert "s3cret" not in repr(answer) and "s3cret" not in repr(sidecar.state.settings)
    assert sidecar.state.tokens.outstanding() == 0  # no stream was announced for it


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_after_the_sip_leg_the_call_ends_or_if_it_failed_streams_instead(
    sidecar: Sidecar,
) -> None:
    done = "?trunkline_dial=done"
    assert parse(await sidecar.webhook("CA2", done, DialCallStatus="completed")) == Hangup()
    failed = routed("twilio-ws", "sip_failed")
    for status in ("failed", "busy", "no-answer"):
        assert isinstance(parse(await sidecar.webhook("CA2", done, DialCallStatus=status)), Stream)
    assert routed("twilio-ws", "sip_failed") == failed + 3


async def test_the_path_can_be_asked_for_in_the_url_and_nonsense_is_a_400(
    sidecar: Sidecar,
) -> None:
    assert isinstance(parse(await sidecar.webhook("CA3", "?trunkline_path=sip")), SipDial)
    assert isinstance(parse(await sidecar.webhook("CA3", "?trunkline_path=twilio-ws")), Stream)
    assert isinstance(parse(await sidecar.webhook("CA3", trunkline_path="sip")), SipDial)
    resp = await sidecar.client.post("/twilio/voice?trunkline_path=pstn", data={"CallSid": "CA3"})
    assert resp.status == 400
    assert "trunkline_path must be one of twilio-ws, sip, not 'pstn'" in await resp.text()


@pytest.mark.parametrize(
    "sidecar",
    [{"TRUNKLINE_SIP_CALLERS": "+15550100001", "TRUNKLINE_SIP_SHARE": "0"}],
    indirect=True,
)
async def test_listed_callers_take_their_path(sidecar: Sidecar) -> None:
    assert isinstance(parse(await sidecar.webhook("CA4")), SipDial)
    assert isinstance(parse(await sidecar.webhook("CA4", From="+15550100009")), Stream)


def test_a_split_without_the_sip_settings_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as exc:
        settings_from_env(
            {
                "TRUNKLINE_SIP_SHARE": "1.5",
                "TRUNKLINE_SIP_CALLERS": "+15550100001 5550100",
                "TRUNKLINE_TWILIO_WS_CALLERS": "+15550100001",
            }
        )
    assert exc.value.problems == [
        "TRUNKLINE_SIP_SHARE='1.5' is not a number from 0 to 1",
        "TRUNKLINE_SIP_CALLERS: '5550100' is not an E.164 number like +15551234567",
        "+15550100001 in both TRUNKLINE_SIP_CALLERS and TRUNKLINE_TWILIO_WS_CALLERS",
        "the sip path (<Dial><Sip> to LiveKit) needs LIVEKIT_SIP_URI, TRUNKLINE_SIP_USERNAME, "
        "TRUNKLINE_SIP_PASSWORD: LiveKit's SIP URI and the digest credentials `trunkline "
        "provision --dial-sip` puts on its inbound trunk",
    ]


# --- the simulated caller, following the webhook ---------------------------------------------


def quiet_options(url: str, **extra: object) -> CallerOptions:
    """A short call: the recording backend says nothing, so nothing is waited for long."""
    defaults: dict[str, object] = {
        "speech": SPEECH,
        "turns": 1,
        "greeting_timeout_s": 0.2,
        "reply_timeout_s": 0.2,
        "linger_s": 0.0,
    }
    return CallerOptions(url=url, **(defaults | extra))  # type: ignore[arg-type]


def sip_leg_result(sid: str) -> CallResult:
    """What a SIP user agent would report for the leg; only its identity matters here."""
    return CallResult(
        call_sid=sid,
        started_at=0.0,
        duration_s=1.0,
        greeting=None,
        turns=[],
        cadence=CadenceStats(0, None, None, None, None, None),
        marks_acked=0,
        clears=0,
        hung_up_by="caller",
        close_code=None,
        heard=np.zeros(0, np.int16),
    )


@dataclass
class StandInDialer:
    """Stands where the SIP user agent will: records the dial, reports ``status``."""

    status: str
    dials: list[SipDial] = field(default_factory=list)

    async def dial(self, dial: SipDial, options: CallerOptions) -> SipDialOutcome:
        self.dials.append(dial)
        answered = self.status == "completed"
        return SipDialOutcome(self.status, sip_leg_result(options.call_sid) if answered else None)


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_the_caller_hands_the_sip_leg_to_its_dialer_and_the_call_ends_with_it(
    sidecar: Sidecar,
) -> None:
    dialer = StandInDialer("completed")
    async with aiohttp.ClientSession() as http:
        caller = SimulatedCaller(quiet_options(sidecar.url, call_sid="CA5"), http, dialer)
        result = await caller.run()
    (dial,) = dialer.dials
    assert dial.uri == f"sip:{NUMBER}@abc123.sip.livekit.cloud;transport=tcp"
    assert (dial.username, dial.password) == ("trunkline", "s3cret-digest")
    assert dial.headers == {"X-Trunkline-Call-Sid": "CA5"}
    assert result.call_sid == "CA5" and not sidecar.backends
    assert caller.answers == [dial, Hangup()]  # it reported the leg's end, and was hung up


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_a_failed_sip_leg_falls_back_to_the_stream_and_the_caller_follows(
    sidecar: Sidecar,
) -> None:
    async with aiohttp.ClientSession() as http:
        options = quiet_options(sidecar.url, call_sid="CA6")
        caller = SimulatedCaller(options, http, StandInDialer("failed"))
        await caller.run()
    assert [type(a) for a in caller.answers] == [SipDial, Stream]
    (backend,) = sidecar.backends
    assert backend.info.call_sid == "CA6"


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_a_caller_with_no_sip_dialer_says_why_it_cannot_go_on(sidecar: Sidecar) -> None:
    async with aiohttp.ClientSession() as http:
        caller = SimulatedCaller(quiet_options(sidecar.url, call_sid="CA7"), http)
        with pytest.raises(CallNotConnected, match=r"down the sip path .* no SIP dialer"):
            await caller.run()
        # and asking for the stream in the URL gets the call through the same number
        caller = SimulatedCaller(quiet_options(sidecar.url, call_sid="CA8", path="twilio-ws"), http)
        await caller.run()
    assert [b.info.call_sid for b in sidecar.backends] == ["CA8"]


# --- <Redirect> from an existing Programmable Voice app ----------------------------------------


async def test_an_existing_voice_app_hands_calls_over_with_redirect() -> None:
    """A team keeps its IVR: its webhook greets the caller and redirects into the sidecar's,
    naming the path. Twilio signs each request with the URL it calls, so the sidecar checks
    the redirected request (query included) and the stream as usual."""
    token = "auth-token"
    backends: list[RecordingBackend] = []

    def factory(info: CallInfo, link: TwilioLink, control: CallControl) -> RecordingBackend:
        backends.append(RecordingBackend(info, link, control))
        return backends[-1]

    port = free_port()
    public = f"http://127.0.0.1:{port}"  # PUBLIC_URL: what the IVR redirects to
    settings = settings_from_env(
        {**SIP, "TRUNKLINE_SIP_SHARE": "1", "PUBLIC_URL": public, "TWILIO_AUTH_TOKEN": token}
    )
    sidecar = TestServer(create_app(settings, factory), host="127.0.0.1", port=port)

    seen: list[dict[str, str]] = []

    async def ivr(request: web.Request) -> web.Response:
        seen.append({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Welcome to Example Co.</Say>'
            f'<Redirect method="POST">{public}/twilio/voice?trunkline_path=twilio-ws</Redirect>'
            "</Response>"
        )
        return web.Response(text=body, content_type="text/xml")

    ivr_app = web.Application()
    ivr_app.router.add_post("/twilio/voice", ivr)
    async with sidecar, TestServer(ivr_app) as ivr_server, aiohttp.ClientSession() as http:
        options = quiet_options(str(ivr_server.make_url("")), call_sid="CA9", auth_token=token)
        caller = SimulatedCaller(options, http)
        result = await caller.run()
        await eventually(lambda: backends and backends[0].closed == 1)
        # the signatures were checked: a caller signing with another token gets nowhere
        forged = quiet_options(str(ivr_server.make_url("")), call_sid="CA10", auth_token="x")
        with pytest.raises(RuntimeError, match="webhook answered 403"):
            await SimulatedCaller(forged, http).run()
    assert isinstance(caller.answers[0], Redirect) and isinstance(caller.answers[1], Stream)
    (backend,) = backends
    assert backend.info.call_sid == "CA9" == result.call_sid == seen[0]["CallSid"]
    assert backend.info.from_number == "+15550100001"
    # TRUNKLINE_SIP_SHARE=1 would have sent the call to sip: the redirect's parameter won


@pytest.mark.parametrize("sidecar", [{"TRUNKLINE_SIP_SHARE": "1"}], indirect=True)
async def test_trunkline_call_says_why_a_sip_path_call_was_not_connected(
    sidecar: Sidecar, capsys: pytest.CaptureFixture[str]
) -> None:
    # the command runs its own event loop: a thread of its own, the sidecar serves on this one
    code = await asyncio.to_thread(cli.main, ["call", "--url", sidecar.url, "--turns", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "trunkline call: the call was not connected: the webhook sent call CA" in err
    assert "down the sip path (<Dial><Sip> to sip:+15550100002@abc123" in err
