"""``backprop-lab``: every bad input is refused in one line with exit code 2, the help lists
every option, and what reaches uvicorn comes from the command line over the environment."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import __version__, cli
from app.settings import Settings, env_name

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BACKPROP_LAB_* setting from the machine running the tests leaks in."""
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """What ``serve`` hands to uvicorn.run (or, for several workers on Linux, to its own
    worker supervisor), recorded instead of starting a server."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setattr(cli, "serve_workers", lambda app, kw: calls.append((app, kw)) or 0)
    return calls


def refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI, expect exit code 2, and return its one line of complaint."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--port", "70000"], "argument --port: '70000' is not an integer from 1 to 65535"),
        (["--port", "0"], "argument --port: '0' is not an integer from 1 to 65535"),
        (["--port", "http"], "argument --port: 'http' is not an integer from 1 to 65535"),
        (["--log-level", "loud"], "invalid choice: 'loud'"),
        (["--verbose"], "unrecognized arguments: --verbose"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    uvicorn_calls: list[object],
    argv: list[str],
    expected: str,
) -> None:
    line = refusal(capsys, ["serve", *argv])
    assert line.startswith("backprop-lab serve: error: ")
    assert expected in line
    if "--log-level" in argv:  # the allowed values are named
        assert all(level in line for level in ("critical", "error", "warning", "info", "debug"))
    assert uvicorn_calls == []


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("BACKPROP_LAB_PORT", "abc", "an integer from 1 to 65535"),
        ("BACKPROP_LAB_PORT", "65536", "an integer from 1 to 65535"),
        ("BACKPROP_LAB_LOG_LEVEL", "loud", "one of critical, error, warning, info, debug"),
        ("BACKPROP_LAB_WS_COMPRESSION", "maybe", "true or false"),
        ("BACKPROP_LAB_SESSION_TTL_SECONDS", "-5", "a number > 0"),
        ("BACKPROP_LAB_MAX_CSV_BYTES", "10", "an integer >= 1024"),
        ("BACKPROP_LAB_STATIC_DIR", "/no/such/folder", "an existing folder"),
    ],
)
def test_a_bad_environment_setting_is_named_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[object],
    variable: str,
    value: str,
    allowed: str,
) -> None:
    monkeypatch.setenv(variable, value)
    line = refusal(capsys, ["serve"])
    assert line == f"backprop-lab serve: error: {variable}={value!r} is not {allowed}"
    assert uvicorn_calls == []


def test_an_option_given_on_the_command_line_wins_over_a_bad_environment_value(
    monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[tuple[Any, dict[str, Any]]]
) -> None:
    monkeypatch.setenv("BACKPROP_LAB_PORT", "abc")
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert uvicorn_calls[0][1]["port"] == 8123


def test_refusals_from_a_real_process_have_no_traceback(tmp_path: Path) -> None:
    """The installed script and ``python -m app``: exit code 2, one line on stderr."""
    script = Path(sys.executable).parent / "backprop-lab"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_LAB_")}
    cases = [
        ([str(script), "serve", "--port", "70000"], {}, "--port"),
        ([sys.executable, "-m", "app", "--log-level", "loud"], {}, "--log-level"),
        ([str(script), "serve"], {"BACKPROP_LAB_PORT": "abc"}, "BACKPROP_LAB_PORT='abc'"),
    ]
    for command, extra_env, named in cases:
        result = subprocess.run(
            command, cwd=tmp_path, env={**env, **extra_env}, capture_output=True, text=True
        )
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert named in result.stderr
        assert "Traceback" not in result.stderr


def test_environment_and_options_reach_uvicorn(
    monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[tuple[Any, dict[str, Any]]]
) -> None:
    monkeypatch.setenv("BACKPROP_LAB_HOST", "0.0.0.0")
    monkeypatch.setenv("BACKPROP_LAB_PORT", "8123")
    monkeypatch.setenv("BACKPROP_LAB_LOG_LEVEL", "debug")
    monkeypatch.setenv("BACKPROP_LAB_WS_COMPRESSION", "true")
    monkeypatch.setenv("BACKPROP_LAB_MAX_REQUEST_BYTES", "4096")
    monkeypatch.setenv("BACKPROP_LAB_FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    assert cli.main(["serve"]) == 0
    assert cli.main(["serve", "--host", "127.0.0.2", "--port", "9000", "--log-level", "error"]) == 0
    (app_from_env, from_env), (app_from_options, from_options) = uvicorn_calls
    assert app_from_env == app_from_options == "app.main:create_app"
    assert from_env == {
        "factory": True,
        "host": "0.0.0.0",
        "port": 8123,
        "log_level": "debug",
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.0/8",
        "ws_max_size": 4096,
        "ws_per_message_deflate": True,
    }
    changed = {"host": "127.0.0.2", "port": 9000, "log_level": "error"}
    assert from_options == {**from_env, **changed}  # options win; the rest still from env


def test_help_lists_every_option_with_its_variable() -> None:
    """``python -m app --help`` and ``backprop-lab serve --help`` describe the same server."""
    script = Path(sys.executable).parent / "backprop-lab"
    helps = [
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for command in ([sys.executable, "-m", "app", "--help"], [str(script), "serve", "--help"])
    ]
    for text in helps:
        flat = " ".join(text.split())  # argparse wraps lines at the terminal width
        for field in cli.SERVE_OPTIONS:
            assert f"--{field.replace('_', '-')}" in flat, field
            assert env_name(field) in flat, field
        assert "{critical,error,warning,info,debug}" in flat
    python_m, script_help = (re.sub(r"usage: \S+( -m app)?", "", text) for text in helps)
    assert " ".join(python_m.split()).replace("python -m app", "backprop-lab") == " ".join(
        script_help.split()
    ).replace("python -m app", "backprop-lab")


def test_version() -> None:
    script = Path(sys.executable).parent / "backprop-lab"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"backprop-lab {__version__}"


def test_workers_need_a_shared_store_and_reach_uvicorn(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
    tmp_path: Path,
) -> None:
    """``--workers N`` with the memory store is refused in one line (each worker would have
    sessions of its own); with a SQLite file it is checked first, then handed to uvicorn."""
    monkeypatch.setenv("BACKPROP_LAB_STORE", "memory")
    line = refusal(capsys, ["serve", "--workers", "2"])
    assert line == (
        "backprop-lab serve: error: --workers=2 needs a shared store, but "
        "BACKPROP_LAB_STORE=memory keeps sessions in one process (use sqlite:///PATH or "
        "redis://HOST:PORT/DB)"
    )
    assert "--workers 0" and "from 1 to 64" in refusal(capsys, ["serve", "--workers", "0"])
    store = tmp_path / "data" / "sessions.db"
    monkeypatch.setenv("BACKPROP_LAB_STORE", f"sqlite:///{store}")
    assert cli.main(["serve", "--workers", "3"]) == 0
    ((app, options),) = uvicorn_calls
    assert app == "app.main:create_app" and options["workers"] == 3
    assert store.exists()  # opened and written once before any worker starts
    monkeypatch.setenv("BACKPROP_LAB_WORKERS", "1")
    assert cli.main(["serve"]) == 0
    assert "workers" not in uvicorn_calls[-1][1]  # one process: uvicorn's own default


def test_a_bad_store_setting_is_named_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[object],
) -> None:
    monkeypatch.setenv("BACKPROP_LAB_STORE", "postgres://db/1")
    line = refusal(capsys, ["serve"])
    assert line == (
        "backprop-lab serve: error: BACKPROP_LAB_STORE='postgres://db/1' is not memory, "
        "sqlite:///PATH or redis://HOST:PORT/DB"
    )
    assert uvicorn_calls == []
