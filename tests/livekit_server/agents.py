"""Agent workers on ``/agent`` and explicit dispatch of room jobs to them.

Protocol (livekit-agents' worker, LiveKit's ``pkg/agent``): the worker registers; for each job
the server asks one matching worker for availability; on acceptance it mints a room token
(kind=agent, the worker's permissions, the identity the worker chose) and sends the
assignment; the worker then joins the room and reports job status.

Dispatches come from a room's configuration when the room is created (a token's
``roomConfig.agents``; none means one dispatch for unnamed workers, as in LiveKit) and from
``AgentDispatchService.CreateDispatch``. Deviation from open-source LiveKit, which gives up:
a dispatch no worker can take waits for a matching worker to register while its room exists.
Only room jobs (``JT_ROOM``) are dispatched; publisher/participant workers register but are
never offered jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from google.protobuf.message import DecodeError
from livekit.protocol import agent as agent_pb
from livekit.protocol import agent_dispatch as dispatch_pb
from livekit.protocol import models

from . import auth, ids
from .room import Room, RoomRegistry

logger = logging.getLogger(__name__)

AVAILABILITY_TIMEOUT_S = 10.0
REGISTER_TIMEOUT_S = 10.0
ATTRIBUTE_AGENT_NAME = "lk.agent.name"
_ENDED = (agent_pb.JobStatus.JS_SUCCESS, agent_pb.JobStatus.JS_FAILED)


def _now_ns() -> int:
    return time.time_ns()


class Worker:
    """A registered worker connection."""

    def __init__(self, registration: agent_pb.RegisterWorkerRequest) -> None:
        self.id = ids.new_id(ids.AGENT_WORKER)
        self.agent_name = registration.agent_name
        self.namespace = registration.namespace
        self.job_type = registration.type
        self.version = registration.version
        self.permissions = (
            registration.allowed_permissions
            if registration.HasField("allowed_permissions")
            else models.ParticipantPermission(
                can_subscribe=True,
                can_publish=True,
                can_publish_data=True,
                can_update_metadata=True,
            )
        )
        self.status = agent_pb.WorkerStatus.WS_AVAILABLE
        self.load = 0.0
        self.jobs: dict[str, agent_pb.Job] = {}
        self._answers: dict[str, asyncio.Future[agent_pb.AvailabilityResponse | None]] = {}
        self._outbox: asyncio.Queue[agent_pb.ServerMessage | None] = asyncio.Queue()

    @property
    def available(self) -> bool:
        return self.status == agent_pb.WorkerStatus.WS_AVAILABLE

    def send(self, message: agent_pb.ServerMessage) -> None:
        self._outbox.put_nowait(message)

    def close(self) -> None:
        self._outbox.put_nowait(None)
        for answer in self._answers.values():
            if not answer.done():
                answer.set_result(None)

    async def write_loop(self, ws: web.WebSocketResponse) -> None:
        while (message := await self._outbox.get()) is not None:
            try:
                await ws.send_bytes(message.SerializeToString())
            except ConnectionError:
                return
        await ws.close()

    async def ask(self, job: agent_pb.Job) -> agent_pb.AvailabilityResponse | None:
        """Offer a job; None if the worker does not answer in time or goes away."""
        answer = asyncio.get_running_loop().create_future()
        self._answers[job.id] = answer
        self.send(agent_pb.ServerMessage(availability=agent_pb.AvailabilityRequest(job=job)))
        try:
            return await asyncio.wait_for(answer, AVAILABILITY_TIMEOUT_S)
        except TimeoutError:
            logger.warning("worker %s did not answer for job %s", self.id, job.id)
            return None
        finally:
            self._answers.pop(job.id, None)

    def answered(self, response: agent_pb.AvailabilityResponse) -> None:
        answer = self._answers.get(response.job_id)
        if answer is not None and not answer.done():
            answer.set_result(response)


@dataclass
class _Dispatch:
    info: dispatch_pb.AgentDispatch
    room: Room
    task: asyncio.Task[None] | None = None
    jobs: list[str] = field(default_factory=list)


class AgentDispatcher:
    """Worker registry, dispatch records and job assignment; observes room lifecycles."""

    def __init__(
        self, authenticator: auth.Authenticator, rooms: RoomRegistry, server_info: models.ServerInfo
    ) -> None:
        self.auth = authenticator
        self.rooms = rooms
        self.server_info = server_info
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, agent_pb.Job] = {}
        self._dispatches: dict[str, _Dispatch] = {}
        self._changed = asyncio.Event()
        rooms.observers.append(self)

    # --- test handles ---------------------------------------------------------------------

    async def wait_for_worker(self, agent_name: str) -> Worker:
        """Block until a worker with ``agent_name`` is registered; returns it."""
        while True:
            changed = self._changed
            for worker in self.workers.values():
                if worker.agent_name == agent_name:
                    return worker
            await changed.wait()

    def _notify(self) -> None:
        """Wake everyone waiting for the set of workers or their status to change."""
        self._changed.set()
        self._changed = asyncio.Event()

    # --- dispatch records -----------------------------------------------------------------

    def room_created(self, room: Room) -> None:
        # no agents configured: one dispatch for unnamed workers (LiveKit's automatic dispatch)
        for requested in room.settings.agents or [dispatch_pb.RoomAgentDispatch()]:
            self.create_dispatch(
                room,
                agent_name=requested.agent_name,
                metadata=requested.metadata,
                attributes=dict(requested.attributes),
            )

    def room_closed(self, room: Room) -> None:
        for dispatch in [d for d in self._dispatches.values() if d.room is room]:
            self._end_dispatch(dispatch)

    def create_dispatch(
        self,
        room: Room,
        *,
        agent_name: str,
        metadata: str = "",
        attributes: dict[str, str] | None = None,
    ) -> dispatch_pb.AgentDispatch:
        info = dispatch_pb.AgentDispatch(
            id=ids.new_id(ids.AGENT_DISPATCH),
            agent_name=agent_name,
            room=room.name,
            metadata=metadata,
            attributes=attributes or {},
            state=dispatch_pb.AgentDispatchState(created_at=_now_ns()),
        )
        dispatch = _Dispatch(info=info, room=room)
        self._dispatches[info.id] = dispatch
        dispatch.task = asyncio.create_task(self._launch(dispatch))
        logger.info("dispatch %s: agent %r to room %s", info.id, agent_name, room.name)
        return info

    def list_dispatches(self, room: str, dispatch_id: str = "") -> list[dispatch_pb.AgentDispatch]:
        return [
            self._snapshot(d)
            for d in self._dispatches.values()
            if d.info.room == room and dispatch_id in ("", d.info.id)
        ]

    def delete_dispatch(self, room: str, dispatch_id: str) -> dispatch_pb.AgentDispatch | None:
        dispatch = self._dispatches.get(dispatch_id)
        if dispatch is None or dispatch.info.room != room:
            return None
        self._end_dispatch(dispatch)
        return self._snapshot(dispatch)

    def _snapshot(self, dispatch: _Dispatch) -> dispatch_pb.AgentDispatch:
        info = dispatch_pb.AgentDispatch()
        info.CopyFrom(dispatch.info)
        info.state.jobs.extend(self.jobs[j] for j in dispatch.jobs if j in self.jobs)
        return info

    def _end_dispatch(self, dispatch: _Dispatch) -> None:
        self._dispatches.pop(dispatch.info.id, None)
        dispatch.info.state.deleted_at = _now_ns()
        if dispatch.task is not None:
            dispatch.task.cancel()
        for job_id in dispatch.jobs:
            job = self.jobs.get(job_id)
            if job is None or job.state.status in _ENDED:
                continue
            worker = self.workers.get(job.state.worker_id)
            if worker is not None:
                worker.send(
                    agent_pb.ServerMessage(termination=agent_pb.JobTermination(job_id=job_id))
                )
            job.state.status = agent_pb.JobStatus.JS_SUCCESS
            job.state.ended_at = _now_ns()

    # --- assignment -----------------------------------------------------------------------

    def _candidates(self, agent_name: str, tried: set[str]) -> list[Worker]:
        found = [
            w
            for w in self.workers.values()
            if w.agent_name == agent_name
            and w.job_type == agent_pb.JobType.JT_ROOM
            and w.available
            and w.id not in tried
        ]
        return sorted(found, key=lambda w: w.load)

    async def _launch(self, dispatch: _Dispatch) -> None:
        """Offer the job to matching workers until one takes it; wait for workers if none.

        Workers not yet asked go first, so a newcomer is not kept waiting behind a refuser.
        """
        tried: set[str] = set()
        while not dispatch.room.closed:
            changed = self._changed
            candidates = self._candidates(dispatch.info.agent_name, tried)
            if not candidates:
                await changed.wait()
                if not self._candidates(dispatch.info.agent_name, tried):
                    tried.clear()  # no newcomer: a status change gives refusers another chance
                continue
            for worker in candidates:
                tried.add(worker.id)
                if await self._offer(dispatch, worker):
                    return

    async def _offer(self, dispatch: _Dispatch, worker: Worker) -> bool:
        """Ask one worker; True when the dispatch is settled (assigned, or ended by it)."""
        job = agent_pb.Job(
            id=ids.new_id(ids.AGENT_JOB),
            dispatch_id=dispatch.info.id,
            type=agent_pb.JobType.JT_ROOM,
            room=dispatch.room.info(),
            namespace=worker.namespace,
            metadata=dispatch.info.metadata,
            agent_name=dispatch.info.agent_name,
            attributes=dispatch.info.attributes,
            state=agent_pb.JobState(
                status=agent_pb.JobStatus.JS_RUNNING,
                worker_id=worker.id,
                started_at=_now_ns(),
                updated_at=_now_ns(),
            ),
        )
        answer = await worker.ask(job)
        if answer is not None and answer.terminate:
            logger.info("worker %s ended dispatch %s without a job", worker.id, dispatch.info.id)
            return True
        if answer is None or not answer.available or dispatch.room.closed:
            return False
        identity = answer.participant_identity or f"agent-{job.id}"
        attributes = dict(answer.participant_attributes)
        attributes[ATTRIBUTE_AGENT_NAME] = worker.agent_name
        token = self.auth.agent_token(
            room=dispatch.room.name,
            identity=identity,
            name=answer.participant_name,
            metadata=answer.participant_metadata,
            attributes=attributes,
            allowed=worker.permissions,
        )
        job.state.participant_identity = identity
        self.jobs[job.id] = job
        worker.jobs[job.id] = job
        dispatch.jobs.append(job.id)
        worker.send(agent_pb.ServerMessage(assignment=agent_pb.JobAssignment(job=job, token=token)))
        logger.info("job %s assigned to worker %s as %s", job.id, worker.id, identity)
        return True

    # --- the worker connection ------------------------------------------------------------

    async def connect(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self.auth.verify(auth.bearer_token(request))
        except auth.AuthError as exc:
            return web.Response(status=exc.status, text=exc.message)
        if not auth.video_grants(claims).agent:
            return web.Response(status=401, text="token lacks the agent grant")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        worker = await self._register(ws)
        if worker is None:
            await ws.close()
            return ws
        writer = asyncio.create_task(worker.write_loop(ws))
        try:
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    continue
                self._handle(worker, message.data)
        finally:
            self.workers.pop(worker.id, None)
            worker.close()
            await writer
            self._notify()
            logger.info("worker %s (%r) left", worker.id, worker.agent_name)
        return ws

    async def _register(self, ws: web.WebSocketResponse) -> Worker | None:
        try:
            first = await ws.receive(timeout=REGISTER_TIMEOUT_S)
        except TimeoutError:
            logger.warning("worker did not register in time")
            return None
        message = agent_pb.WorkerMessage()
        try:
            if first.type != WSMsgType.BINARY:
                raise DecodeError("not binary")
            message.ParseFromString(first.data)
        except DecodeError:
            logger.warning("worker sent an undecodable first message")
            return None
        if message.WhichOneof("message") != "register":
            logger.warning(
                "worker's first message is %s, not register", message.WhichOneof("message")
            )
            return None
        worker = Worker(message.register)
        await ws.send_bytes(
            agent_pb.ServerMessage(
                register=agent_pb.RegisterWorkerResponse(
                    worker_id=worker.id, server_info=self.server_info
                )
            ).SerializeToString()
        )
        self.workers[worker.id] = worker
        self._notify()
        logger.info("worker %s registered (agent %r)", worker.id, worker.agent_name)
        return worker

    def _handle(self, worker: Worker, payload: bytes) -> None:
        message = agent_pb.WorkerMessage()
        try:
            message.ParseFromString(payload)
        except DecodeError:
            logger.warning("worker %s sent an undecodable message", worker.id)
            return
        which = message.WhichOneof("message")
        if which == "availability":
            worker.answered(message.availability)
        elif which == "update_worker":
            update = message.update_worker
            if update.HasField("status"):
                worker.status = update.status
            worker.load = update.load
            self._notify()
        elif which == "update_job":
            self._update_job(worker, message.update_job)
        elif which == "ping":
            worker.send(
                agent_pb.ServerMessage(
                    pong=agent_pb.WorkerPong(
                        last_timestamp=message.ping.timestamp, timestamp=int(time.time() * 1000)
                    )
                )
            )
        else:
            logger.info("worker %s: %s ignored", worker.id, which)

    def _update_job(self, worker: Worker, update: agent_pb.UpdateJobStatus) -> None:
        job = worker.jobs.get(update.job_id)
        if job is None:
            return
        job.state.status = update.status
        job.state.error = update.error
        job.state.updated_at = _now_ns()
        if update.status in _ENDED:
            job.state.ended_at = job.state.updated_at
            del worker.jobs[update.job_id]

    async def aclose(self) -> None:
        tasks = [d.task for d in self._dispatches.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for worker in list(self.workers.values()):
            worker.close()
