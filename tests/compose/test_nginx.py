"""nginx: `nginx -t` on the real configuration, and the proxy behaviours the API relies on."""

from __future__ import annotations

import re
from pathlib import Path

from tests.compose.support import COMPOSE, run, services, tool

CONF = COMPOSE / "nginx" / "nginx.conf"
UPSTREAM = "server api:8000;"


def _location(text: str, spec: str) -> str:
    match = re.search(r"location\s+" + re.escape(spec) + r"\s*\{(?P<body>[^}]*)\}", text)
    assert match, f"no `location {spec}` block"
    return match["body"]


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    nginx = tool("nginx")
    text = CONF.read_text()
    # `api` resolves only inside the compose network; nginx -t resolves upstream hosts.
    assert UPSTREAM in text
    (tmp_path / "nginx.conf").write_text(text.replace(UPSTREAM, "server 127.0.0.1:8000;"))
    conf, pid = tmp_path / "nginx.conf", tmp_path / "nginx.pid"
    result = run(nginx, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-g", f"pid {pid};")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_upstream_is_the_api_service_port() -> None:
    assert services()["api"]["expose"] == ["8000"]
    assert services()["nginx"]["volumes"] == ["./nginx/nginx.conf:/etc/nginx/nginx.conf:ro"]


def test_body_limit_lets_the_api_answer_413_itself() -> None:
    text = CONF.read_text()
    size = re.search(r"client_max_body_size\s+(\d+)m;", text)
    assert size, "client_max_body_size must be set (in MiB)"
    api_limit = int(services()["api"]["environment"]["SENSORHUB_MAX_BODY_BYTES"])
    assert api_limit < int(size[1]) * 1024 * 1024 <= 2 * api_limit


def test_server_sent_events_pass_through_unbuffered() -> None:
    body = _location(CONF.read_text(), "= /v1/alerts/stream")
    assert "proxy_pass http://sensorhub_api;" in body
    assert "proxy_buffering off;" in body
    assert "gzip off;" in body
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smh]);", body)
    assert timeout and timeout[2] in "mh", "an SSE stream needs a read timeout of minutes or more"


def test_timeouts_are_set_and_metrics_stay_internal() -> None:
    text = CONF.read_text()
    for directive in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout", "client_body_timeout"):
        assert re.search(rf"^\s*{directive}\s+\d+s;", text, re.M), directive
    assert "return 404;" in _location(text, "= /metrics")
