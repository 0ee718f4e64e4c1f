# trunkline — the two commands a newcomer needs are `make demo` and `make test`.
# Needs only python3 (3.11+) and make; uv is bootstrapped into the virtualenv if missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
UV     := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all venv demo test lint typecheck pytest lock clean help livekit stack web

help:
	@echo "make demo     - place a simulated call through the sidecar and print its report"
	@echo "make test     - lint (ruff), type-check (mypy) and run the test suite (pytest)"
	@echo "make livekit  - build livekit-server and livekit-sip from their Go modules into .tools/bin"
	@echo "make stack    - run Redis, livekit-server, livekit-sip, the worker and the sidecar here"
	@echo "make web      - type-check and build the browser call page (web/ -> web/dist)"
	@echo "make lock     - re-resolve requirements(-dev).lock (hashed, no download addresses)"
	@echo "make clean    - remove the virtualenv and generated output"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	@command -v uv >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

# The product, the lab and the dev tools: requirements-dev.lock. The images install the product
# alone from requirements.lock (same versions: it is resolved within the dev lock).
$(STAMP): requirements-dev.lock pyproject.toml plugins/livekit-plugins-pacer/pyproject.toml | $(BIN)/python $(BIN)/uv
	$(UV) pip install --python $(BIN)/python --require-hashes -r requirements-dev.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e plugins/livekit-plugins-pacer -e .
	@touch $@

venv: $(STAMP)

LOCK_FLAGS := --generate-hashes --python-version 3.11 --no-emit-package livekit-plugins-pacer \
	  --custom-compile-command "make lock"

lock: | $(BIN)/uv
	$(UV) pip compile pyproject.toml --extra lab --group dev $(LOCK_FLAGS) -o requirements-dev.lock
	$(UV) pip compile pyproject.toml -c requirements-dev.lock $(LOCK_FLAGS) -o requirements.lock

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	cd plugins/livekit-plugins-pacer && $(CURDIR)/$(BIN)/mypy

# The real LiveKit servers (versions in scripts/versions.env); a warm re-run takes under a second.
livekit:
	scripts/install-livekit

# The call page (web/): npm installs exactly web/package-lock.json (versions and integrity
# hashes; no install scripts run — esbuild's only checks its binary), tsc type-checks it and
# esbuild bundles it into web/dist, which `trunkline serve` serves at /call/.
WEB_SOURCES := $(wildcard web/src/*.ts web/static/*) web/tsconfig.json
WEB_DEPS    := web/node_modules/.package-lock.json
WEB_STAMP   := web/dist/.built

$(WEB_DEPS): web/package.json web/package-lock.json web/.npmrc
	@command -v npm >/dev/null 2>&1 || { echo "make web: needs Node.js (>= 20) with npm" >&2; exit 1; }
	cd web && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run --silent typecheck && npm run --silent build
	@touch $@

web: $(WEB_STAMP)

pytest: $(STAMP) livekit web
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

stack: $(STAMP) livekit web
	$(BIN)/python -m trunkline.cli stack $(STACK_ARGS)

demo: $(STAMP)
	$(BIN)/python -m lab.demo

clean:
	rm -rf $(VENV) out .tools .mypy_cache .ruff_cache .pytest_cache .hypothesis \
	  web/node_modules web/dist
