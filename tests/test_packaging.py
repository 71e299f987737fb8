"""The distributions carry the page: built from a clean copy of the repository, the sdist and the
wheel hold every module and page file, and an installed copy serves the page, its static files
and /docs from any folder, with no source tree in sight."""

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from app import __version__
from tests.conftest import ROOT, run_needing_index, start_server, stop_server

pytestmark = pytest.mark.slow
PAGE_FOLDERS = ("static", "templates", "lessons")


@dataclass(frozen=True)
class Distributions:
    source: Path  # a clean copy of the repository, as a fresh clone has it
    sdist: Path
    wheel: Path


def source_files() -> list[str]:
    """The repository's files that a clone would have (tracked or new, never ignored ones)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(path for path in listing.split("\0") if path and (ROOT / path).is_file())


def files_under(*folders: str) -> list[str]:
    return [path for path in source_files() if path.split("/")[0] in folders]


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """The sdist, then the wheel built from the unpacked sdist (as pip builds from an sdist).

    Both use the test environment's setuptools without build isolation, so no package index is
    needed; .ci/run builds with the declared minimum setuptools as well.
    """
    work = tmp_path_factory.mktemp("dist")
    source = work / "source"
    for path in source_files():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, source / path)
    out = work / "out"
    hook = (
        "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    )
    built = subprocess.run(
        [sys.executable, "-c", hook, str(out)], cwd=source, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    sdist = out / built.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip_wheel, "--no-index", "-q", "-w", str(out), str(unpacked)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return Distributions(source=source, sdist=sdist, wheel=wheel)


def test_sdist_carries_the_code_the_page_and_the_licence(distributions: Distributions) -> None:
    with tarfile.open(distributions.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = files_under("app", "engine", *PAGE_FOLDERS)
    expected += ["pyproject.toml", "README.md", "LICENSE"]
    assert not set(expected) - names


def test_wheel_carries_every_module_and_page_file_inside_the_package(
    distributions: Distributions,
) -> None:
    with zipfile.ZipFile(distributions.wheel) as archive:
        names = set(archive.namelist())
        info = f"backprop_lab-{__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    code = [path for path in files_under("app", "engine") if "__pycache__" not in path]
    page = [f"app/{path}" for path in files_under(*PAGE_FOLDERS)]  # static/x -> app/static/x
    assert not set(code + page) - names
    assert not any(name.startswith(tuple(f"{f}/" for f in PAGE_FOLDERS)) for name in names)
    assert metadata["License-Expression"] == "MIT"
    assert f"{info}/licenses/LICENSE" in names
    assert "backprop-lab = app.cli:main" in entry_points


@pytest.fixture
def outside_any_source_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working folder, and no setting or path that could lead back to the repository."""
    for key in list(os.environ):
        if key.startswith("BACKPROP_LAB_") or key in {"PYTHONPATH", "VIRTUAL_ENV"}:
            monkeypatch.delenv(key)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_installed_wheel_serves_the_page_from_any_folder(
    distributions: Distributions, tmp_path: Path, outside_any_source_tree: Path
) -> None:
    """The wheel in a fresh venv; its dependencies come from this test environment (a path
    entry) so this runs offline. The next test installs them from the index as a user does."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Dependencies only: a plain path entry does not run this environment's own .pth files,
    # so the editable install of the repository stays out of sight.
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*install, "--no-deps", "--no-index", str(distributions.wheel)], check=True)
    assert_serves_the_page(venv, outside_any_source_tree)


@pytest.mark.network  # resolves the build backend and every dependency from the package index
def test_pip_install_of_the_source_folder_serves_the_page(
    distributions: Distributions, tmp_path: Path, outside_any_source_tree: Path
) -> None:
    """`pip install .` as a user runs it: isolated build, dependencies from the index."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--retries", "2"]
    run_needing_index([*pip, str(distributions.source)], cwd=outside_any_source_tree)
    assert_serves_the_page(venv, outside_any_source_tree)


def assert_serves_the_page(venv: Path, folder: Path) -> None:
    """Run the venv's ``backprop-lab serve`` in ``folder``; fetch the page, /docs, every static
    file and the icon, all from the copy installed in the venv."""
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import app.resources as r; print(r.__file__, r.page_dir('static'))"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(path).is_relative_to(venv) for path in where), where

    with serving(venv, folder) as url:
        page = httpx.get(url)
        assert page.status_code == 200 and "<title>Backprop Lab</title>" in page.text
        assert httpx.head(url).status_code == 200
        docs = httpx.get(f"{url}/docs")
        assert "/docs-assets/swagger-ui-bundle.js" in docs.text
        assert httpx.get(f"{url}/docs-assets/swagger-ui-bundle.js").status_code == 200
        for path in files_under("static"):
            served = httpx.get(f"{url}/{path}")
            assert served.content == (ROOT / path).read_bytes(), path
        icon = httpx.get(f"{url}/favicon.ico")
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.content == (ROOT / "static" / "favicon.svg").read_bytes()


@contextmanager
def serving(venv: Path, folder: Path) -> Iterator[str]:
    """The venv's own ``backprop-lab serve``, started in ``folder``; yields its base URL."""
    command = [str(venv / "bin" / "backprop-lab"), "serve"]
    process, url = start_server(command=command, cwd=folder)
    try:
        yield url
    finally:
        stop_server(process)
