"""The ``/agent`` worker protocol spoken directly: register, availability, assignment, status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from livekit import api
from livekit.protocol import agent as agent_pb
from livekit.protocol import models

from . import agents
from .server import LiveKitTestServer

JobStatus = agent_pb.JobStatus


def worker_token(agent: bool = True) -> str:
    grants = api.VideoGrants(agent=agent)
    return api.AccessToken("devkey", "secret").with_grants(grants).to_jwt()


class RawWorker:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, message: agent_pb.WorkerMessage) -> None:
        await self.ws.send_bytes(message.SerializeToString())

    async def receive(self) -> agent_pb.ServerMessage:
        message = await self.ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        return agent_pb.ServerMessage.FromString(message.data)

    async def answer(self, job: agent_pb.Job, *, available: bool, terminate: bool = False) -> None:
        response = agent_pb.AvailabilityResponse(
            job_id=job.id,
            available=available,
            terminate=terminate,
            participant_identity=f"agent-{job.id}",
            participant_name="Raw Agent",
            participant_attributes={"custom": "yes"},
        )
        await self.send(agent_pb.WorkerMessage(availability=response))


@contextlib.asynccontextmanager
async def raw_worker(
    server: LiveKitTestServer, agent_name: str
) -> AsyncIterator[tuple[RawWorker, agent_pb.RegisterWorkerResponse]]:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"{server.url}/agent", headers={"Authorization": f"Bearer {worker_token()}"}
        )
        worker = RawWorker(ws)
        register = agent_pb.RegisterWorkerRequest(
            type=agent_pb.JobType.JT_ROOM,
            agent_name=agent_name,
            allowed_permissions=models.ParticipantPermission(
                can_publish=True, can_subscribe=True, can_publish_data=True, agent=True
            ),
        )
        await worker.send(agent_pb.WorkerMessage(register=register))
        registered = await worker.receive()
        assert registered.WhichOneof("message") == "register"
        try:
            yield worker, registered.register
        finally:
            await ws.close()


async def dispatch(server: LiveKitTestServer, agent_name: str, room: str) -> None:
    async with api.LiveKitAPI(server.http_url, "devkey", "secret") as lkapi:
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata="m")
        )


async def test_registration_answers_with_a_worker_id(livekit_server: LiveKitTestServer) -> None:
    async with raw_worker(livekit_server, "raw") as (_, registered):
        assert registered.worker_id.startswith("AW_")
        assert registered.server_info.version
        worker = await livekit_server.agents.wait_for_worker("raw")
        assert worker.id == registered.worker_id


async def test_workers_need_the_agent_grant_and_must_register_first(
    livekit_server: LiveKitTestServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(
                f"{livekit_server.url}/agent",
                headers={"Authorization": f"Bearer {worker_token(agent=False)}"},
            )
        assert refused.value.status == 401
        ws = await session.ws_connect(
            f"{livekit_server.url}/agent", headers={"Authorization": f"Bearer {worker_token()}"}
        )
        ping = agent_pb.WorkerMessage(ping=agent_pb.WorkerPing(timestamp=1))
        await ws.send_bytes(ping.SerializeToString())
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert livekit_server.agents.workers == {}


async def test_accepted_job_gets_an_agent_token_and_reports_status(
    livekit_server: LiveKitTestServer,
) -> None:
    async with raw_worker(livekit_server, "raw") as (worker, registered):
        await dispatch(livekit_server, "raw", "room-a")
        offer = await worker.receive()
        job = offer.availability.job
        assert (job.type, job.agent_name, job.room.name, job.metadata) == (
            agent_pb.JobType.JT_ROOM,
            "raw",
            "room-a",
            "m",
        )
        assert job.id.startswith("AJ_") and job.dispatch_id.startswith("AD_")
        await worker.answer(job, available=True)
        assignment = (await worker.receive()).assignment
        assert assignment.job.id == job.id

        claims = api.TokenVerifier("devkey", "secret").verify(assignment.token)
        assert claims.identity == f"agent-{job.id}"
        assert claims.kind == "agent"
        assert claims.name == "Raw Agent"
        assert claims.attributes == {"custom": "yes", "lk.agent.name": "raw"}
        assert claims.video is not None
        assert (claims.video.room_join, claims.video.room, claims.video.agent) == (
            True,
            "room-a",
            True,
        )

        recorded = livekit_server.agents.jobs[job.id]
        assert recorded.state.worker_id == registered.worker_id
        assert recorded.state.status == JobStatus.JS_RUNNING
        update = agent_pb.UpdateJobStatus(job_id=job.id, status=JobStatus.JS_SUCCESS)
        await worker.send(agent_pb.WorkerMessage(update_job=update))
        ping = agent_pb.WorkerMessage(ping=agent_pb.WorkerPing(timestamp=42))
        await worker.send(ping)
        assert (await worker.receive()).pong.last_timestamp == 42
        assert recorded.state.status == JobStatus.JS_SUCCESS


async def test_a_refused_job_waits_for_a_worker_that_takes_it(
    livekit_server: LiveKitTestServer,
) -> None:
    async with raw_worker(livekit_server, "busy") as (first, _):
        await dispatch(livekit_server, "busy", "room-b")
        job = (await first.receive()).availability.job
        await first.answer(job, available=False)
        async with raw_worker(livekit_server, "busy") as (second, registered):
            retry = (await second.receive()).availability.job
            assert retry.room.name == "room-b"
            await second.answer(retry, available=True)
            assignment = (await second.receive()).assignment
            assert assignment.job.state.worker_id == registered.worker_id


async def test_a_terminating_refusal_ends_the_dispatch(livekit_server: LiveKitTestServer) -> None:
    async with (
        raw_worker(livekit_server, "ender") as (first, _),
        raw_worker(livekit_server, "ender") as (second, _),
    ):
        await dispatch(livekit_server, "ender", "room-e")
        job = (await first.receive()).availability.job
        await first.answer(job, available=False, terminate=True)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.receive(), 0.5)
        assert livekit_server.agents.jobs == {}


async def test_a_silent_worker_is_passed_over(
    livekit_server: LiveKitTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agents, "AVAILABILITY_TIMEOUT_S", 0.2)
    async with (
        raw_worker(livekit_server, "pair") as (silent, _),
        raw_worker(livekit_server, "pair") as (responsive, registered),
    ):
        await dispatch(livekit_server, "pair", "room-d")
        ignored = (await silent.receive()).availability.job
        job = (await responsive.receive()).availability.job
        assert job.dispatch_id == ignored.dispatch_id
        await responsive.answer(job, available=True)
        assignment = (await responsive.receive()).assignment
        assert assignment.job.state.worker_id == registered.worker_id


async def test_deleting_the_room_terminates_its_jobs(livekit_server: LiveKitTestServer) -> None:
    async with raw_worker(livekit_server, "raw") as (worker, _):
        await dispatch(livekit_server, "raw", "room-c")
        job = (await worker.receive()).availability.job
        await worker.answer(job, available=True)
        await worker.receive()
        async with api.LiveKitAPI(livekit_server.http_url, "devkey", "secret") as lkapi:
            await lkapi.room.delete_room(api.DeleteRoomRequest(room="room-c"))
        termination = (await worker.receive()).termination
        assert termination.job_id == job.id
