"""The lab's real stack: LiveKit, and per pacer arm everything a production call goes through.

With no settings the rig starts the local stack of ``make livekit`` (Redis, livekit-server and,
where installed, livekit-sip) on this machine's own address; with ``LIVEKIT_URL`` it uses that
deployment instead (its SIP address from ``LIVEKIT_SIP_URI``), and says so. On top, per pacer
arm (:data:`ARMS`), the product's own processes: the agent worker (``python agent.py dev``,
``TRUNKLINE_PACER`` on or off, registered under a name of its own so the arms never take each
other's calls), the Twilio sidecar in bridge mode and another in local mode,

the sidecar in local mode (``--pacer on|off``: there the pacer is the sidecar's), and — through
the real SIP API, with the LiveKit half of ``trunkline provision`` — an inbound trunk and a
dispatch rule for a number of the arm's own. These live for the whole run. Every one of an
arm's processes takes its model from one ``trunkline sim`` of the arm.

Each *phase* (a model timing of the sweep) restarts the two simulators, on the port every
process of the arm was told, with the phase's think time and seed. A fresh simulator restarts
its seeded draws, and one round of calls — one per path — shares one draw
(``--sessions-per-draw``), so the n-th call of a phase meets the same model behaviour on every
path and in both arms.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from livekit import api

from lab.dispatch import Dispatcher, Watch, named
from lab.live_plan import LivePlan
from lab.services import (
    SIDECAR_START_S,
    SIM_START_S,
    WORKER_START_S,
    product_env,
    sidecar_service,
    sim_service,
    worker_service,
)
from lab.sip_runner import SipTarget
from sip.provision.livekit_side import apply_livekit, read_livekit
from sip.provision.spec import ProvisionSpec
from trunkline.child import free_port
from trunkline.config import LiveKitCredentials, text
from trunkline.stack import LocalStack, StackOptions
from trunkline.stack.service import Service
from trunkline.stack.stack import host_address

#: the model the lab measures is the simulator: these must not switch a process to OpenAI
_MODEL_OFF: Final = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
#: how long an agent may take to join a call's room (a job's process may be starting)
AGENT_JOIN_S: Final = 60.0
#: a worker's first job starts its process pool: tens of seconds on a busy machine
WARM_UP_S: Final = 180.0


@dataclass(frozen=True)
class Arm:
    name: str
    pacer: bool
    #: tells the arm's callers apart in SIP numbers
    digit: int


ARMS: Final = (Arm("paced", True, 1), Arm("unpaced", False, 2))


@dataclass(frozen=True)
class LiveKit:
    """The LiveKit the run measures against, and how callers on this machine reach it."""

    credentials: LiveKitCredentials
    http_url: str
    #: ``host:port`` where SIP INVITEs go, or None with the reason in ``sip_missing``
    sip_gateway: str | None
    sip_missing: str | None
    #: this machine's address as callers advertise it (never loopback: WebRTC skips it)
    host: str
    #: one sentence for the report: what was measured
    where: str

    @property
    def env(self) -> dict[str, str]:
        c = self.credentials
        return {
            "LIVEKIT_URL": c.url,
            "LIVEKIT_API_KEY": c.api_key,
            "LIVEKIT_API_SECRET": c.api_secret,
        }


def deployment(env: Mapping[str, str], host: str) -> LiveKit | None:
    """The deployment ``LIVEKIT_URL`` names, or None when it is not set; callers on this
    machine use ``host``."""
    url = text(env, "LIVEKIT_URL")
    if url is None:
        return None
    key, secret = text(env, "LIVEKIT_API_KEY"), text(env, "LIVEKIT_API_SECRET")
    if key is None or secret is None:
        raise ValueError("LIVEKIT_URL is set without LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    http_url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    sip_uri = text(env, "LIVEKIT_SIP_URI")
    gateway = None
    if sip_uri is not None:
        gateway = sip_uri.removeprefix("sip:").split(";", 1)[0].rpartition("@")[2]
        gateway = gateway if ":" in gateway else f"{gateway}:5060"
    return LiveKit(
        credentials=LiveKitCredentials(url, key, secret),
        http_url=http_url,
        sip_gateway=gateway,
        sip_missing=None if gateway else "LIVEKIT_SIP_URI is not set (the deployment's SIP URI)",
        host=host,
        where=f"the LiveKit deployment at LIVEKIT_URL={url} (not a local stack)",
    )


def local(stack: LocalStack) -> LiveKit:
    sip = "livekit-sip" if stack.sip is not None else "no livekit-sip"
    return LiveKit(
        credentials=LiveKitCredentials(stack.url, stack.api_key, stack.api_secret),
        http_url=stack.http_url,
        sip_gateway=stack.sip_address,
        sip_missing=stack.sip_missing,
        host=stack.host,
        where=(
            f"a local stack this run started on {stack.host} (Redis, livekit-server, {sip}; "
            "`make livekit`)"
        ),
    )


@dataclass(frozen=True)
class ArmEnds:
    """Where one arm's calls go, and where its agent side writes."""

    arm: Arm
    agent_name: str
    local_url: str
    #: the local sidecar's turn log
    local_log: Path
    bridge_url: str
    sip: SipTarget | None
    #: the worker's turn log (every room path of the arm)
    worker_log: Path
    #: the phase's simulator recordings (every path of the arm)
    model_recordings: Path
    dispatcher: Dispatcher
    #: the arm's folder of the phase (callers keep their own files under it)
    run_dir: Path


class _ArmRig:
    def __init__(self, arm: Arm, livekit: LiveKit, run: Path, run_id: str) -> None:
        self.arm = arm
        self.agent_name = f"trunkline-lab-{arm.name}-{run_id}"
        self.run = run / arm.name
        self.sim_port = free_port()
        self.worker_log = self.run / "worker-turns.jsonl"
        self.local_log = self.run / "local-turns.jsonl"
        self.sip_number = f"+1555{arm.digit}{secrets.randbelow(10**6):06d}"
        self.sip_name = f"trunkline-lab-{arm.name}-{run_id}"
        self.sip_room_prefix = f"lab-sip-{arm.name}-"
        model = {**_MODEL_OFF, "TRUNKLINE_SIM_URL": f"http://127.0.0.1:{self.sim_port}/v1"}
        pacer = "on" if arm.pacer else "off"
        worker_env = product_env(
            livekit.env,
            self.agent_name,
            {**model, "TRUNKLINE_TURN_LOG": str(self.worker_log), "TRUNKLINE_PACER": pacer},
        )
        self.worker = worker_service(worker_env, self.run)
        self.bridge_port = free_port()
        self.bridge = sidecar_service(
            "127.0.0.1",
            self.bridge_port,
            product_env(livekit.env, self.agent_name, _MODEL_OFF),
            self.run,
            "bridge",
            ["--agent-timeout", str(AGENT_JOIN_S)],
        )
        self.local_port = free_port()
        self.local = sidecar_service(
            "127.0.0.1",
            self.local_port,
            product_env({}, self.agent_name, model),  # no LiveKit: local mode
            self.run,
            "local",
            ["--pacer", pacer, "--turn-log", str(self.local_log)],
        )

    @property
    def services(self) -> list[Service]:
        return [self.worker, self.bridge, self.local]

    def dispatcher(self, livekit: LiveKit) -> Dispatcher:
        return Dispatcher(
            livekit.credentials, livekit.http_url, self.agent_name, self.worker.log_path
        )

    def ends(self, sip: SipTarget | None, recordings: Path, livekit: LiveKit) -> ArmEnds:
        return ArmEnds(
            arm=self.arm,
            agent_name=self.agent_name,
            local_url=f"http://127.0.0.1:{self.local_port}",
            local_log=self.local_log,
            bridge_url=f"http://127.0.0.1:{self.bridge_port}",
            sip=sip,
            worker_log=self.worker_log,
            model_recordings=recordings,
            dispatcher=self.dispatcher(livekit),
            run_dir=recordings.parent,
        )


class LabRig:
    """``with LabRig(out, env) as rig:`` — everything up; everything stopped on exit."""

    def __init__(
        self,
        out: Path,
        env: Mapping[str, str],
        *,
        arms: Sequence[Arm] = ARMS,
        sip: bool = True,
        host: str | None = None,
    ) -> None:
        self.out = out
        self.env = env
        #: this machine's address for the stack and the callers (default: its own)
        self.host = host or host_address()
        self.arms = arms
        self.want_sip = sip
        self.run_id = secrets.token_hex(3)
        self.stack: LocalStack | None = None
        self._livekit: LiveKit | None = None
        self._arms: list[_ArmRig] = []
        self._provisioned = False
        #: the arms' processes answered and the workers took their warm-up job
        self._ready = False
        self._warming: threading.Thread | None = None
        self._warm_up_failed: BaseException | None = None

    @property
    def livekit(self) -> LiveKit:
        if self._livekit is None:
            raise RuntimeError("the rig is not started")
        return self._livekit

    @property
    def sip_gateway(self) -> str | None:
        return self.livekit.sip_gateway if self.want_sip else None

    def start(self) -> None:
        """LiveKit and the SIP numbers; every arm's processes launched side by side, and the
        workers warmed up in the background (the first :meth:`phase` waits for all of it).

        Raises :class:`~trunkline.stack.StackUnavailable` (servers not installed),
        :class:`~trunkline.stack.service.ServiceFailed` or ``ValueError`` (bad settings)."""
        try:
            self._livekit = deployment(self.env, self.host)
            if self._livekit is None:
                self.stack = LocalStack(
                    StackOptions(
                        host=self.host,
                        run_dir=self.out / "stack",
                        sip=None if self.want_sip else False,
                    )
                )
                self.stack.start()
                self._livekit = local(self.stack)
            self._arms = [_ArmRig(a, self.livekit, self.out, self.run_id) for a in self.arms]
            if self.sip_gateway is not None:
                asyncio.run(self._provision())
            for arm in self._arms:
                for service in arm.services:
                    service.launch()
        except BaseException:
            self.stop()
            raise
        self._warming = threading.Thread(target=self._warm_workers, name="lab-warm-up", daemon=True)
        self._warming.start()

    def _warm_workers(self) -> None:
        """Wait for the workers and give each its first job, while the caller goes on (the
        codec section runs meanwhile): a worker's first job starts its process pool, which
        takes tens of seconds on a loaded machine. Waits only — the processes were launched by
        the thread that owns them."""
        try:
            for arm in self._arms:
                arm.worker.wait_ready(WORKER_START_S)
            asyncio.run(self._warm_up())
        except BaseException as exc:  # handed to the first phase, which raises it
            self._warm_up_failed = exc

    def sip_missing(self) -> str | None:
        """Why this run has no sip path (None when it has)."""
        if not self.want_sip:
            return "left out of this run"
        return self.livekit.sip_missing

    async def _provision(self) -> None:
        """A trunk for each arm's number and a rule dispatching the arm's worker."""
        c, gateway = self.livekit.credentials, self.sip_gateway
        async with api.LiveKitAPI(self.livekit.http_url, c.api_key, c.api_secret) as lk:
            for arm in self._arms:
                spec = ProvisionSpec(
                    numbers=(arm.sip_number,),
                    sip_uri=f"sip:{gateway}",
                    agent_name=arm.agent_name,
                    name=arm.sip_name,
                    room_prefix=arm.sip_room_prefix,
                )
                state = await read_livekit(lk.sip, spec)
                await apply_livekit(lk.sip, spec, state, dry_run=False, report=lambda _c: None)
                self._provisioned = True

    async def _deprovision(self) -> None:
        """Remove the run's trunks and rules (on a deployment they would outlive the run)."""
        c = self.livekit.credentials
        names = {arm.sip_name for arm in self._arms}
        async with api.LiveKitAPI(self.livekit.http_url, c.api_key, c.api_secret) as lk:
            rules = await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
            for rule in rules.items:
                if rule.name in names:
                    await lk.sip.delete_dispatch_rule(
                        api.DeleteSIPDispatchRuleRequest(
                            sip_dispatch_rule_id=rule.sip_dispatch_rule_id
                        )
                    )
            trunks = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
            for trunk in trunks.items:
                if trunk.name in names:
                    await lk.sip.delete_trunk(
                        api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)
                    )

    def stop(self) -> None:
        for arm in reversed(self._arms):
            for service in reversed(arm.services):
                service.stop()
        if self._provisioned:
            with contextlib.suppress(Exception):  # the servers may be gone already
                asyncio.run(self._deprovision())
            self._provisioned = False
        if self.stack is not None:
            self.stack.stop()

    def __enter__(self) -> LabRig:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @contextlib.contextmanager
    def phase(self, plan: LivePlan, run: Path, paths: int) -> Iterator[list[ArmEnds]]:
        """Fresh simulators on ``plan``'s model settings for every arm, for one phase.

        ``paths`` consecutive connections to an arm's simulator share one seeded draw: the
        calls of one round, one per path, meet the same model behaviour."""
        with contextlib.ExitStack() as stack:
            sims, ends = [], []
            for arm in self._arms:
                here = run / arm.arm.name
                here.mkdir(parents=True, exist_ok=True)
                script = here / "script.json"
                script.write_text(plan.script_json(), encoding="utf-8")
                recordings = here / "model-heard"
                args = [
                    *plan.sim_args(script),
                    "--sessions-per-draw", str(paths),
                    "--record", str(recordings),
                ]  # fmt: skip
                sim = sim_service(arm.sim_port, args, here)
                sim.launch()
                stack.callback(sim.stop)
                sims.append(sim)
                sip = None
                if self.sip_gateway is not None:
                    sip = SipTarget(
                        self.sip_gateway, arm.sip_number, self.livekit.host, arm.sip_room_prefix
                    )
                ends.append(arm.ends(sip, recordings, self.livekit))
            if not self._ready:
                for arm in self._arms:
                    arm.bridge.wait_ready(SIDECAR_START_S)
                    arm.local.wait_ready(SIDECAR_START_S)
            for sim in sims:
                sim.wait_ready(SIM_START_S)
            if not self._ready:
                if self._warming is not None:
                    self._warming.join()
                if self._warm_up_failed is not None:
                    raise self._warm_up_failed
                self._ready = True
            yield ends

    async def _warm_up(self) -> None:
        """One job per worker before anything is measured: LiveKit's dev mode starts a job's
        process on demand, and the first start (its process pool's) takes seconds to tens of
        seconds on a busy machine — an answer delay that is the worker's, not the path's."""
        c = self.livekit.credentials
        async with api.LiveKitAPI(self.livekit.http_url, c.api_key, c.api_secret) as lk:

            async def one(arm: _ArmRig) -> None:
                room = f"lab-warm-up-{arm.arm.name}-{self.run_id}"
                dispatch = api.RoomAgentDispatch(agent_name=arm.agent_name)
                await lk.room.create_room(
                    api.CreateRoomRequest(
                        name=room, agents=[dispatch], empty_timeout=60, departure_timeout=1
                    )
                )
                dispatcher = Dispatcher(
                    c, self.livekit.http_url, arm.agent_name, arm.worker.log_path
                )
                try:
                    async with asyncio.timeout(WARM_UP_S), Watch(dispatcher, named(room)):
                        while not await _agent_in(lk, room):  # noqa: ASYNC110 - polls the API
                            await asyncio.sleep(0.25)
                finally:
                    await lk.room.delete_room(api.DeleteRoomRequest(room=room))

            await asyncio.gather(*(one(arm) for arm in self._arms))


async def _agent_in(lk: api.LiveKitAPI, room: str) -> bool:
    listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return any(p.kind == api.ParticipantInfo.Kind.AGENT for p in listed.participants)
