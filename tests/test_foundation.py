"""The server's outer shell: health, page, static files, docs, security headers, CLI."""

import subprocess
import sys

import httpx
from fastapi.testclient import TestClient

from app import __version__
from app.main import create_app
from app.settings import Settings


def client() -> TestClient:
    return TestClient(create_app(Settings()))


def test_healthz_reports_status_and_version() -> None:
    response = client().get("/healthz")
    assert response.json() == {"status": "ok", "version": __version__}


def test_page_is_rendered_from_the_template_with_security_headers() -> None:
    response = client().get("/")
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Backprop Lab</title>" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_head_answers_like_get_for_the_page_and_health() -> None:
    c = client()
    for path in ("/", "/healthz"):
        head, get = c.head(path), c.get(path)
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]


def test_favicon_is_the_page_icon() -> None:
    response = client().get("/favicon.ico")
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.content == client().get("/static/favicon.svg").content
    assert response.content.startswith(b"<svg")
    assert '<link rel="icon" href="/static/favicon.svg"' in client().get("/").text


def test_page_has_no_inline_script_and_no_foreign_urls() -> None:
    html = client().get("/").text
    assert "<script>" not in html  # every script is an external module file
    assert "http://" not in html and "https://" not in html


def test_static_files_are_served() -> None:
    response = client().get("/static/css/app.css")
    assert response.headers["content-type"].startswith("text/css")
    assert "body" in response.text


def test_openapi_and_local_docs() -> None:
    c = client()
    spec = c.get("/openapi.json").json()
    assert spec["info"]["title"] == "Backprop Lab"
    assert "/healthz" in spec["paths"]
    docs = c.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs
    assert (
        c.get("/docs-assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_settings_come_from_prefixed_environment(monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("BACKPROP_LAB_PORT", "8123")
    monkeypatch.setenv("BACKPROP_LAB_MAX_WIDTH", "32")
    settings = Settings()
    assert settings.port == 8123
    assert settings.max_width == 32


def test_cli_version_and_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "--port" in result.stdout and "--host" in result.stdout


def test_live_server_answers_on_loopback(live_server: str) -> None:
    assert httpx.get(f"{live_server}/healthz").json()["status"] == "ok"
    assert "Backprop Lab" in httpx.get(live_server).text
