# syntax=docker/dockerfile:1
# trunkline images.
#
#   docker build .                    the LiveKit agent worker (also what `lk agent deploy` builds)
#   docker build --target sidecar .   the Twilio Media Streams sidecar (`trunkline serve`)
#
# The sidecar is its own image because Twilio must reach it over public HTTPS/WSS, and an agent
# deployed to LiveKit Cloud has no public ingress; run it anywhere that has (it reaches LiveKit
# as a client). Configuration comes from the environment at run time; .env files are never
# copied in (see .dockerignore).

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

# -- build: the locked dependencies and the project, into one virtualenv ----------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

# The product's dependencies only (requirements.lock): the lab's and the dev tools' are in
# requirements-dev.lock and never enter an image. Every one of them is a wheel: no compiler.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from the hashed lock alone, so code edits do not re-install them.
# --require-hashes: a package whose bytes differ from the lock fails the build.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

# Then the project and the pacer plugin, without dependencies (all are in the lock above).
COPY . .
RUN pip install --no-cache-dir --no-deps ./plugins/livekit-plugins-pacer .

# -- runtime: no compiler, a non-root user ---------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
ARG UID=10001
RUN adduser --disabled-password --gecos "" --home /home/appuser --shell /sbin/nologin \
    --uid "${UID}" appuser
COPY --from=build /opt/venv /opt/venv
# agent.py imports the agent/ package beside it, so the source tree comes along.
COPY --from=build /app /app
WORKDIR /app
USER ${UID}

# -- web: the browser call page (web/), built from its npm lock; only web/dist leaves ------
FROM node:${NODE_VERSION}-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json web/.npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web/ ./
RUN npm run --silent typecheck && npm run --silent build

# -- sidecar: `docker build --target sidecar .` ----------------------------------------------
FROM runtime AS sidecar
# the call page (/call/ in bridge mode), as `make web` builds it
COPY --from=web /web/dist /app/web/dist
EXPOSE 8080
# Liveness only (/healthz): a draining sidecar is healthy and must be left to finish its calls.
# Readiness (/readyz) is for the load balancer; the image has no curl, Python is at hand.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
# SIGTERM drains (calls run on for up to TRUNKLINE_DRAIN_TIMEOUT): give the container as long,
# e.g. `docker stop -t 3600`, or Kubernetes' terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
CMD ["trunkline", "serve", "--host", "0.0.0.0", "--port", "8080"]

# -- agent (default, last): the LiveKit worker ------------------------------------------------
FROM runtime AS agent
# Plugins fetch their model files now, into the user's cache, not on a first call. (The ones
# the worker loads today, openai and pacer, need none; the simulator's Silero model ships in
# its wheel. Kept so a plugin that does, e.g. a turn detector, needs no change here.)
RUN python agent.py download-files
# The worker's health check (agents' default HTTP port) and its Prometheus /metrics
# (TRUNKLINE_WORKER_METRICS_PORT, 8082 under `start`).
EXPOSE 8081 8082
CMD ["python", "agent.py", "start"]
