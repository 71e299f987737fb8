"""docker-compose.yml and its proxy config: two replicas sharing Redis behind nginx.

No container engine runs here, so the files are checked for what they must say: the services
and images, that the replicas use this repository's image with the Redis store, that the
proxy's upstreams are exactly the replicas on the port the image listens on, with what a
WebSocket and the server's trusted proxy headers need, and a body limit an export fits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings, import_limit
from app.store.base import SESSION_ID
from tests.conftest import ROOT
from tests.test_dockerfile import runtime_env

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build") in (".", {"context": "."})
    }


def nginx_conf(compose: dict[str, Any]) -> str:
    """The proxy's config file, as its volume mounts it over nginx's own."""
    (mount,) = compose["services"]["proxy"]["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/etc/nginx/nginx.conf" and mode == "ro"
    path = (ROOT / source).resolve()
    assert path.is_file() and ROOT in path.parents
    return path.read_text()


def test_two_replicas_of_this_image_share_redis(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "app1", "app2", "proxy"}
    apps = replicas(compose)
    assert set(apps) == {"app1", "app2"}
    for service in apps.values():
        store = service["environment"]["BACKPROP_LAB_STORE"]
        assert Settings(store=store).store == store  # a store the server accepts
        host = re.fullmatch(r"redis://([^:/]+):6379/\d+", store)
        assert host is not None and host[1] == "redis"  # the Redis service, by its name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # Official images from the default registry, pinned to a minor version.
    assert re.fullmatch(r"redis:7\.\d+-alpine", services["redis"]["image"])
    assert re.fullmatch(r"nginx:1\.\d+-alpine", services["proxy"]["image"])


def test_redis_keeps_its_data_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    (volume,) = redis["volumes"]
    name, target = volume.split(":")
    assert target == "/data" and name in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_proxy_sends_every_request_to_the_replicas(compose: dict[str, Any]) -> None:
    conf = nginx_conf(compose)
    (upstream,) = re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    name, body = upstream
    servers = set(re.findall(r"^\s*server\s+([\w.-]+):(\d+)\s*;", body, flags=re.MULTILINE))
    port = runtime_env()["BACKPROP_LAB_PORT"]
    assert servers == {(app, port) for app in replicas(compose)}
    assert re.search(rf"proxy_pass\s+http://{name}\s*;", conf)
    # One session's requests (and its stream) go to one replica, which holds its trainer.
    assert re.search(r"hash\s+\$session_key\s+consistent\s*;", body)
    (pattern,) = re.findall(r"~\^/api/sessions/\(\?<session_id>([^)]*)\)", conf)
    assert f"^{pattern}$" == SESSION_ID.pattern  # the ids the server gives out
    assert "listen 80;" in conf
    (published,) = compose["services"]["proxy"]["ports"]
    assert published.endswith(":80")


def test_the_proxy_passes_websockets_and_the_client_address(compose: dict[str, Any]) -> None:
    conf = nginx_conf(compose)
    for header in (
        r"proxy_http_version\s+1\.1",
        r"proxy_set_header\s+Upgrade\s+\$http_upgrade",
        r"proxy_set_header\s+Connection\s+\$connection_upgrade",
        r"proxy_set_header\s+Host\s+\$host",
        r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for",
        r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme",
    ):
        assert re.search(header + r"\s*;", conf), header
    # The image trusts forwarded headers from any address, so per-student quotas see the
    # students' own addresses, not the proxy's.
    assert runtime_env()["BACKPROP_LAB_FORWARDED_ALLOW_IPS"] == "*"
    # A paused stream may stay open for the whole session TTL.
    (read_timeout,) = re.findall(r"proxy_read_timeout\s+(\d+)s\s*;", conf)
    assert int(read_timeout) >= Settings.model_fields["session_ttl_seconds"].default


def test_an_export_fits_through_the_proxy(compose: dict[str, Any]) -> None:
    (size,) = re.findall(r"client_max_body_size\s+(\d+)m\s*;", nginx_conf(compose))
    assert int(size) * 2**20 >= import_limit(Settings(store="memory"))


def test_the_compose_files_stay_out_of_the_image() -> None:
    from tests.test_dockerfile import excluded_from_context

    assert excluded_from_context("docker-compose.yml")
    assert excluded_from_context("deploy/nginx.conf")
    assert Path(ROOT / "deploy").is_dir()
