"""Deploy files, checked without a Docker engine: hadolint, the image's shape, livekit.toml,
.dockerignore and .env.example against the settings the code actually reads."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HADOLINT = Path(sys.executable).parent / "hadolint"


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def dockerfile_stages() -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            base, _, alias = rest.partition(" AS ")
            stages.append(Stage(base=base.strip(), name=alias.strip()))
        elif stages:
            stages[-1].instructions.append((keyword.upper(), " ".join(rest.split())))
    return stages


def stage(name: str) -> Stage:
    return next(s for s in dockerfile_stages() if s.name == name)


def test_hadolint_finds_nothing_at_any_level() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "style", "--format", "json", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == []


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /app && pip install requests\n")
    result = subprocess.run(
        [str(HADOLINT), "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0 and {"DL3007", "DL3003"} <= codes


def test_the_default_image_is_the_worker_and_the_sidecar_is_a_target() -> None:
    stages = dockerfile_stages()
    assert [s.name for s in stages] == ["build", "runtime", "web", "sidecar", "agent"]
    assert stages[-1].name == "agent"  # `lk agent deploy` and a plain `docker build` build it
    assert all(re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim-\w+", s.base) for s in stages[:2])
    assert stage("agent").args("RUN") == ["python agent.py download-files"]
    assert stage("agent").args("CMD") == ['["python", "agent.py", "start"]']
    assert stage("sidecar").args("CMD") == [
        '["trunkline", "serve", "--host", "0.0.0.0", "--port", "8080"]'
    ]
    assert stage("sidecar").args("EXPOSE") == ["8080"]
    # the call page is built from its npm lock in a stage of its own; only the build is kept
    assert re.fullmatch(r"node:\$\{NODE_VERSION\}-bookworm-slim", stage("web").base)
    assert "npm ci --ignore-scripts --no-audit --no-fund" in stage("web").args("RUN")
    assert stage("sidecar").args("COPY") == ["--from=web /web/dist /app/web/dist"]


def _healthcheck_command() -> list[str]:
    (healthcheck,) = stage("sidecar").args("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--start-period=" in options and "--interval=" in options
    argv = json.loads(command)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_sidecar_image_checks_liveness_on_healthz_and_the_check_works() -> None:
    argv = _healthcheck_command()
    assert "http://127.0.0.1:8080/healthz" in " ".join(argv)  # the port CMD serves on
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    def run_check() -> int:
        local = [a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in argv]
        local[0] = sys.executable if local[0] == "python" else local[0]
        return subprocess.run(local, capture_output=True, timeout=30, check=False).returncode

    try:
        assert run_check() == 0
        _Health.status = 503
        assert run_check() != 0
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()
    assert run_check() != 0  # nothing listening


def test_dependencies_come_only_from_the_hashed_lock() -> None:
    runs = stage("build").args("RUN")
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock" in runs
    assert "pip install --no-cache-dir --no-deps ./plugins/livekit-plugins-pacer ." in runs
    copies = stage("build").args("COPY")
    assert copies.index("requirements.lock ./") < copies.index(". .")


def _locked(name: str) -> dict[str, str]:
    """Package → version pinned in a lock file."""
    text = (ROOT / name).read_text()
    return dict(re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\\n]+)", text, re.M))


def test_the_image_s_lock_holds_the_product_alone_at_the_dev_lock_s_versions() -> None:
    """The lab's own libraries (pesq needs a compiler; scipy and matplotlib are large) and the
    dev tools never enter an image; what does is exactly what ``make test`` tested. (``av``,
    ``rich``, ``psutil`` and ``PyJWT`` stay: livekit-agents and livekit-api need them.)"""
    product, everything = _locked("requirements.lock"), _locked("requirements-dev.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lab = set(project["project"]["optional-dependencies"]["lab"])
    dev = set(project["dependency-groups"]["dev"])
    assert {"livekit-agents", "twilio", "aiohttp", "soxr", "libsonic"} <= product.keys()
    needed_by_livekit = {"av", "rich", "psutil", "PyJWT"}
    leaked = {name for name in product if name.lower() in {n.lower() for n in lab | dev}}
    assert leaked <= {n.lower() for n in needed_by_livekit}, leaked
    assert {"pesq", "pystoi", "scipy", "matplotlib", "pytest", "mypy", "playwright"}.isdisjoint(
        product
    )
    assert {n: v for n, v in product.items() if everything.get(n) != v} == {}
    assert {n.lower() for n in lab | dev} <= {n.lower() for n in everything}


def test_no_stage_installs_a_compiler() -> None:
    for name in ("build", "runtime", "sidecar", "agent"):
        runs = " ".join(stage(name).args("RUN"))
        assert "gcc" not in runs and "build-essential" not in runs, name


def test_the_runtime_runs_as_a_numeric_non_root_user_without_a_compiler() -> None:
    runtime = stage("runtime")
    assert runtime.args("USER") == ["${UID}"]
    assert runtime.args("ARG") == ["UID=10001"]
    assert not any("apt-get" in r for r in runtime.args("RUN"))
    for later in ("sidecar", "agent"):
        assert stage(later).base == "runtime" and stage(later).args("USER") == []


def _docker_ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker matches it: ``**`` any depth, ``*`` within a name."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def _ignored(path: str) -> bool:
    patterns = [
        _docker_ignore_regex(line.strip().rstrip("/"))
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.local",
        "plugins/livekit-plugins-pacer/.env.local",
        ".venv/bin/python",
        "out/lab/report.png",
        "sip/__pycache__/g711.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        ".pytest_cache/v/cache",
        ".git/HEAD",
        "trunkline.egg-info/PKG-INFO",
        "web/node_modules/livekit-client/package.json",
        "web/dist/main.js",
    ],
)
def test_secrets_environments_and_output_stay_out_of_images(path: str) -> None:
    assert _ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "requirements.lock",
        "requirements-dev.lock",
        "pyproject.toml",
        "README.md",
        "agent.py",
        "agent/__init__.py",
        "sip/g711.py",
        "trunkline/cli.py",
        "trunkline/data/speech/arctic_a0007.wav",
        "plugins/livekit-plugins-pacer/pyproject.toml",
        "plugins/livekit-plugins-pacer/README.md",
    ],
)
def test_what_the_build_needs_reaches_it(path: str) -> None:
    assert not _ignored(path)


def test_livekit_toml_has_what_the_livekit_cli_reads() -> None:
    config = tomllib.loads((ROOT / "livekit.toml").read_text())
    assert set(config) == {"project", "agent"}
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", config["project"]["subdomain"])
    assert isinstance(config["agent"]["id"], str)


def _example_settings() -> dict[str, str]:
    """Each KEY=value of .env.example; each must sit under a comment (settings may share one)."""
    settings: dict[str, str] = {}
    commented = False
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            assert commented, f"{line!r} has no comment above it"
            settings[match.group(1)] = match.group(2)
        else:
            commented = line.startswith("#")
    return settings


def test_env_example_lists_the_documented_settings_with_no_secrets_filled_in() -> None:
    settings = _example_settings()
    required = {
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "LIVEKIT_SIP_URI",
        "AGENT_NAME",
        "OPENAI_API_KEY",
        "OPENAI_REALTIME_MODEL",
        "OPENAI_VOICE",
        "PUBLIC_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TRUNKLINE_STREAM_SECRET",
        "TRUNKLINE_MAX_CALLS",
        "TRUNKLINE_MAX_CALL_SECONDS",
        "TRUNKLINE_MAX_MESSAGE_BYTES",
        "TRUNKLINE_TURN_LOG",
    }
    assert required <= set(settings)
    for secret in (
        "LIVEKIT_API_SECRET",
        "OPENAI_API_KEY",
        "TWILIO_AUTH_TOKEN",
        "TRUNKLINE_SIP_PASSWORD",
    ):
        assert settings[secret] == ""
    # Presence switches modes, so an example value left in place would switch them by accident.
    for switch in ("LIVEKIT_URL", "OPENAI_API_KEY", "PUBLIC_URL", "TRUNKLINE_SIM_URL"):
        assert settings.get(switch) == ""


def test_env_example_covers_every_setting_the_code_reads() -> None:
    name = re.compile(r"""["']((?:LIVEKIT|OPENAI|TWILIO|TRUNKLINE|AGENT|PUBLIC)_[A-Z0-9_]+)["']""")
    read: set[str] = set()
    for package in ("trunkline", "agent", "sip", "lab"):
        for source in (ROOT / package).rglob("*.py"):
            read |= set(name.findall(source.read_text()))
    assert read, "the scan found no settings at all"
    assert read <= set(_example_settings()), sorted(read - set(_example_settings()))
