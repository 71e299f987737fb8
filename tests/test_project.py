"""The project's front door stays true: README commands, CI script, code quality."""

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
CI_SCRIPT = (ROOT / ".ci" / "run").read_text()
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", README, flags=re.DOTALL)


def test_readme_has_the_install_and_the_test_command() -> None:
    commands = readme_commands()
    assert "pip install -e . && backprop-lab serve" in commands[0]
    assert commands[1].endswith("pytest --run-slow")  # the run-everything command


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = readme_commands()[1]
    assert "\n" not in test_command
    assert test_command in CI_SCRIPT.splitlines()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    assert "ruff check" in CI_SCRIPT
    assert "ruff format --check" in CI_SCRIPT


def test_minimum_constraints_match_pyproject() -> None:
    """CI installs .ci/minimum-constraints.txt; it must still say what pyproject.toml declares."""
    spec = importlib.util.spec_from_file_location("pins", ROOT / ".ci" / "pins.py")
    assert spec is not None and spec.loader is not None
    pins = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pins)
    written = (ROOT / ".ci" / "minimum-constraints.txt").read_text()
    assert written == pins.minimum_constraints(), "run: python .ci/pins.py minimums"
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len([line for line in written.splitlines() if "==" in line]) == len(dependencies)
    for step in ("pins.py build-minimum", "-c .ci/minimum-constraints.txt", "pytest -q"):
        assert step in CI_SCRIPT, step
    assert "tests/api" in CI_SCRIPT


def test_every_setting_is_documented() -> None:
    from app.settings import Settings

    for name in Settings.model_fields:
        assert f"`BACKPROP_LAB_{name.upper()}`" in README, name


@pytest.mark.slow
def test_mypy_passes_on_engine_and_app() -> None:
    result = subprocess.run(
        [str(BIN / "mypy"), "engine", "app"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_third_party_or_foreign_assets_in_the_page() -> None:
    for path in [*(ROOT / "static").rglob("*"), *(ROOT / "templates").rglob("*")]:
        if path.is_file() and path.suffix in {".js", ".css", ".html"}:
            text = path.read_text()
            # XML namespace names (SVG's) are identifiers, never fetched.
            assert not re.search(r"https?://(?!www\.w3\.org/)", text), path
            assert ".min." not in path.name, path


@pytest.mark.slow
def test_browser_tests_fail_rather_than_skip_under_ci_without_chromium(tmp_path: Path) -> None:
    """Under CI=true a missing Chromium is an error; elsewhere a skip with the install hint."""
    test = "tests/e2e/test_page_loads.py::test_page_loads_without_errors_or_foreign_requests"
    base = {**os.environ, "BACKPROP_LAB_CHROMIUM": str(tmp_path / "no-chromium")}
    for ci, expected in [("true", "1 error"), ("", "1 skipped")]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
            cwd=ROOT,
            env={**base, "CI": ci},
            capture_output=True,
            text=True,
        )
        assert expected in result.stdout, result.stdout[-2000:]
        assert "apt-get install -y chromium" in result.stdout
        assert (result.returncode != 0) == (ci == "true")


def test_readme_notebook_example_runs_and_shows_vanishing_gradients() -> None:
    snippet = re.findall(r"```python\n(.+?)\n```", README, flags=re.DOTALL)[0]
    namespace: dict[str, object] = {}
    exec(compile(snippet.replace("print(", "norms = ("), "README", "exec"), namespace)
    norms = namespace["norms"]
    assert isinstance(norms, list)
    assert norms[0] < 1e-3 * norms[-1]  # the first layer's gradient is far below the last's
