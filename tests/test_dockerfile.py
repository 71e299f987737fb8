"""The Dockerfile: linted with hadolint, and its install and CMD run in a plain venv.

There is no container engine on the machines that run these tests, so the image is never
built here. Instead the build stage's COPY and RUN steps and the runtime stage's ENV, COPY
and CMD are replayed in temporary folders standing in for /src, /opt/venv and /app, with a
fresh virtual environment standing in for the image's Python. What this does not verify:
the base image itself, the numeric USER's file permissions, and HEALTHCHECK scheduling.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

DOCKERFILE = ROOT / "Dockerfile"


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
    assert all(stage.base == "python:3.12-slim" for stage in stages)
    runtime = dict(stages[-1].steps)
    user = runtime["USER"].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0
    assert "/healthz" in runtime["HEALTHCHECK"]
    assert 'CMD ["python"' in runtime["HEALTHCHECK"]
    cmd = json.loads(runtime["CMD"])  # exec form is a JSON array
    assert cmd[0] == "uvicorn"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == "8000"
    assert cmd[cmd.index("--workers") + 1] == "1"
    assert "--proxy-headers" in cmd
    assert cmd[cmd.index("--forwarded-allow-ips") + 1] == "*"


@pytest.mark.slow
def test_dockerfile_install_and_cmd_work_in_a_plain_venv(tmp_path: Path) -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    venv = tmp_path / "opt-venv"
    roots = {"/opt/venv": str(venv), "/src": str(tmp_path / "src"), "/app": str(tmp_path / "app")}

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
                        shutil.copytree(ROOT / source, destination, dirs_exist_ok=True)
                    else:
                        destination.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(ROOT / source, destination)
            elif instruction == "RUN" and not argument.startswith("python -m venv"):
                subprocess.run(local(argument), shell=True, cwd=workdir, env=env, check=True)

    runtime = dict(stages[-1].steps)
    cmd = json.loads(runtime["CMD"])
    port = free_port()
    cmd[cmd.index("--port") + 1] = str(port)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"  # loopback only in tests
    cmd[0] = str(venv / "bin" / cmd[0])
    server = subprocess.Popen(cmd, cwd=Path(roots["/app"]), env=env)
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
        page = httpx.get(url)
        assert "Backprop Lab" in page.text
        assert httpx.get(f"{url}/static/css/app.css").status_code == 200
        # The HEALTHCHECK command itself, pointed at this port, exits 0.
        probe = json.loads(runtime["HEALTHCHECK"].split("CMD", 1)[1])
        probe = [local(word).replace(":8000/", f":{port}/") for word in probe]
        probe[0] = str(venv / "bin" / "python")
        assert subprocess.run(probe, env=env, timeout=10).returncode == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
