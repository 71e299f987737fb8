"""The Dockerfile: linted with hadolint, and its install and CMD run in a plain venv.

There is no container engine on the machines that run these tests, so the image is never
built here. Instead the build stage's COPY and RUN steps and the runtime stage's ENV, COPY
and CMD are replayed in temporary folders standing in for /src, /opt/venv and /app, with a
fresh virtual environment standing in for the image's Python (this machine's Python, not the
image's 3.12: .ci/pins.py resolves the image's pins so that they install on both). What this
does not verify: the base image itself, the numeric USER's file permissions, and HEALTHCHECK
scheduling.
"""

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import cli
from app.settings import Settings, env_name
from tests.conftest import ROOT, free_port, run_needing_index

DOCKERFILE = ROOT / "Dockerfile"
IMAGE_REQUIREMENTS = ROOT / ".ci" / "image-requirements.txt"


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage, with line continuations joined and comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        logical.append(buffer + line)
        buffer = ""
    stages: list[Stage] = []
    for line in logical:
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = argument.split()
            stages.append(
                Stage(name=words[-1] if "AS" in map(str.upper, words) else "", base=words[0])
            )
        else:
            stages[-1].steps.append((instruction, argument.strip()))
    return stages


def env_pairs(argument: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(argument))


def runtime_env() -> dict[str, str]:
    """The BACKPROP_LAB_* settings the runtime stage's ENV lines give the image."""
    runtime = parse_dockerfile(DOCKERFILE.read_text())[-1]
    pairs: dict[str, str] = {}
    for instruction, argument in runtime.steps:
        if instruction == "ENV":
            pairs.update(env_pairs(argument))
    return {key: value for key, value in pairs.items() if key.startswith("BACKPROP_LAB_")}


def excluded_from_context(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (or a folder above it) out of the build context.

    Docker's rule: patterns apply in order, the last one that matches decides, ``!`` re-admits.
    """
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            excluded = not negated
    return excluded


def test_hadolint_passes_at_warning_threshold() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_follows_the_required_shape() -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    assert len(stages) >= 2, "multi-stage build"
    assert all(stage.base == "python:3.12-slim" for stage in stages)  # pinned to a minor
    runtime = dict(stages[-1].steps)
    user = runtime["USER"].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    assert "/healthz" in runtime["HEALTHCHECK"]
    assert 'CMD ["python"' in runtime["HEALTHCHECK"]
    assert "BACKPROP_LAB_PORT" in runtime["HEALTHCHECK"]  # probes the port in use
    assert json.loads(runtime["CMD"]) == ["backprop-lab", "serve"]  # exec form, the CLI itself
    assert runtime_env()["BACKPROP_LAB_HOST"] == "0.0.0.0"
    # Sessions in a SQLite file inside the declared volume, which the server's user owns.
    assert json.loads(runtime["VOLUME"]) == ["/data"]
    assert runtime_env()["BACKPROP_LAB_STORE"] == "sqlite:////data/sessions.db"
    copies = [arg for kind, arg in stages[-1].steps if kind == "COPY"]
    assert f"--from=build --chown={runtime['USER']} /data /data" in copies


def test_dependencies_install_from_pins_before_the_code_is_copied() -> None:
    build = parse_dockerfile(DOCKERFILE.read_text())[0].steps
    copies = [argument.split()[0] for instruction, argument in build if instruction == "COPY"]
    runs = [argument for instruction, argument in build if instruction == "RUN"]
    assert copies[0] == ".ci/image-requirements.txt"
    install_pins = next(i for i, (kind, arg) in enumerate(build) if "--requirement" in arg)
    first_code = next(i for i, (kind, arg) in enumerate(build) if arg.startswith("app "))
    assert install_pins < first_code  # a code change leaves the dependency layer cached
    assert any("--no-deps" in run and "pip check" in run for run in runs)
    for source in copies:
        assert not excluded_from_context(source), f"{source} is left out by .dockerignore"


def test_image_pins_cover_every_dependency_within_its_declared_range() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = dict(
        line.split("==")
        for line in IMAGE_REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert all(re.fullmatch(r"[0-9][0-9a-z.]*", version) for version in pins.values()), pins
    for requirement in [
        *pyproject["project"]["dependencies"],
        *pyproject["build-system"]["requires"],
    ]:
        name, floor = re.split(r"(?:\[[^\]]*\])?>=", requirement)
        name = re.sub(r"[-_.]+", "-", name).lower()
        assert name in pins, f"{name} is not pinned for the image"
        assert version_tuple(pins[name]) >= version_tuple(floor), (name, pins[name], floor)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def test_the_image_command_passes_uvicorn_what_the_cli_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What ``docker run [-e ...]`` hands uvicorn is what ``backprop-lab serve`` hands it."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: calls.append(options))
    for field_name in Settings.model_fields:
        monkeypatch.delenv(env_name(field_name), raising=False)
    command = json.loads(dict(parse_dockerfile(DOCKERFILE.read_text())[-1].steps)["CMD"])

    # Outside the image: the documented equivalent, given as options.
    cli.main(["serve", "--host", "0.0.0.0", "--port", "8000", "--forwarded-allow-ips", "*"])
    # Inside: the image's CMD under the image's ENV, then with settings a user passes with -e.
    for key, value in runtime_env().items():
        monkeypatch.setenv(key, value)
    cli.main(command[1:])
    monkeypatch.setenv("BACKPROP_LAB_WS_COMPRESSION", "true")
    monkeypatch.setenv("BACKPROP_LAB_LOG_LEVEL", "debug")
    monkeypatch.setenv("BACKPROP_LAB_MAX_REQUEST_BYTES", "4096")
    cli.main(command[1:])

    outside, inside, inside_configured = calls
    assert inside == outside
    assert inside["ws_per_message_deflate"] is False  # off unless asked for, as documented
    assert inside["ws_max_size"] == Settings.model_fields["max_request_bytes"].default
    assert inside["forwarded_allow_ips"] == "*" and inside["proxy_headers"] is True
    changed = {"ws_per_message_deflate": True, "log_level": "debug", "ws_max_size": 4096}
    assert inside_configured == {**inside, **changed}


@pytest.mark.slow
@pytest.mark.network  # the first RUN installs the pinned dependencies from the package index
def test_dockerfile_install_and_cmd_work_in_a_plain_venv(tmp_path: Path) -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    venv = tmp_path / "opt-venv"
    roots = {
        "/opt/venv": str(venv),
        "/src": str(tmp_path / "src"),
        "/app": str(tmp_path / "app"),
        "/data": str(tmp_path / "data"),
    }

    def local(path: str) -> str:
        for image_path, here in roots.items():
            path = path.replace(image_path, here)
        return path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKPROP_LAB_", "VIRTUAL"))}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)

    for stage in stages:
        workdir = tmp_path
        for instruction, argument in stage.steps:
            if instruction == "ENV":
                for key, value in env_pairs(argument).items():
                    env[key] = local(value.replace("$PATH", env.get("PATH", "")))
            elif instruction == "WORKDIR":
                workdir = Path(local(argument))
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY":
                words = argument.split()
                if words[0].startswith("--from="):
                    continue  # the venv is already where the runtime stage expects it
                *sources, target = words
                for source in sources:
                    destination = workdir / target
                    if (ROOT / source).is_dir():
                        shutil.copytree(
                            ROOT / source,
                            destination,
                            dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.py[cod]"),
                        )
                    else:
                        destination.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(ROOT / source, destination)
            elif instruction == "RUN" and not argument.startswith("python -m venv"):
                run_needing_index(["sh", "-c", local(argument)], cwd=workdir, env=env)

    runtime = dict(stages[-1].steps)
    command = json.loads(runtime["CMD"])
    command[0] = str(venv / "bin" / command[0])
    port = free_port()
    # The image's ENV set host and port; the test listens on loopback and a free port instead,
    # through the same settings a user would pass with `docker run -e`.
    env.update(BACKPROP_LAB_HOST="127.0.0.1", BACKPROP_LAB_PORT=str(port))
    server = subprocess.Popen(command, cwd=Path(roots["/app"]), env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the CMD exited"
                assert time.monotonic() < deadline, "no answer on /healthz within 30 s"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        assert "Backprop Lab" in httpx.get(url).text
        # The page's files come from the installed package: the image holds no copies.
        assert not any(Path(roots["/app"]).iterdir())
        css = httpx.get(f"{url}/static/css/app.css")
        assert css.content == (ROOT / "static" / "css" / "app.css").read_bytes()
        assert "swagger-ui" in httpx.get(f"{url}/docs").text
        # Sessions go to the SQLite file in the image's data volume.
        created = httpx.post(f"{url}/api/sessions", json={}, timeout=30)
        assert created.status_code == 201
        assert (Path(roots["/data"]) / "sessions.db").stat().st_size > 0
        # The HEALTHCHECK command itself exits 0, on the port the settings name.
        probe = json.loads(runtime["HEALTHCHECK"].split("CMD", 1)[1])
        probe[0] = str(venv / "bin" / probe[0])
        assert subprocess.run(probe, env=env, timeout=10).returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
