"""In Socket Mode, a real `incident-bot run` serves `/healthz`, `/readyz` and `/metrics`
on HEALTH_PORT, while Slack's requests come over the WebSocket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import SETTINGS, Settings
from tests.support.health import get, sample
from tests.support.slack_users import ALICE
from tests.support.socket_mode import (
    APP_TOKEN,
    SocketModeApiDouble,
    SocketModeServer,
    slash_envelope,
)
from tests.support.waiting import eventually


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "incident-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


@pytest.fixture
def socket_server() -> Iterator[SocketModeServer]:
    with SocketModeServer() as server:
        yield server


@pytest.fixture
def double(socket_server: SocketModeServer) -> Iterator[SocketModeApiDouble]:
    with SocketModeApiDouble(socket_server.url) as running:
        running.add_user(ALICE, "alice")
        running.add_channel("incidents")
        yield running


def test_socket_mode_serves_the_endpoints_on_the_health_port(
    settings: Settings, double: SocketModeApiDouble, socket_server: SocketModeServer, tmp_path
):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS.values()}},
        "DATABASE_URL": settings.database_url,
        "SLACK_BOT_TOKEN": double.token,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": double.base_url,
        "HEALTH_PORT": str(port),
        "REPLICA_ID": "socket-1",
        "RUNBOOK_DIRS": str(tmp_path),
        "LOG_FILE": str(tmp_path / "bot.log"),
    }
    process = subprocess.Popen([*_cli(), "run", "--host", "127.0.0.1"], env=env, cwd=tmp_path)
    try:
        eventually(lambda: socket_server.connections, 30, "the bot did not connect")
        eventually(lambda: _answers(port, "/healthz") == (200, "ok\n"), 30)
        assert get(port, "/readyz") == (200, "ready\n")
        assert sample(port, "incident_bot_replica", replica="socket-1") == 1
        socket_server.send(slash_envelope("e1", "help", user=ALICE, channel="C0X", double=double))
        eventually(lambda: socket_server.ack_of("e1"), 10, "no ack")
        eventually(lambda: sample(port, "incident_bot_acks_total", outcome="ok") == 1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(port: int, path: str) -> tuple[int, str] | None:
    try:
        return get(port, path)
    except OSError:
        return None  # not listening yet
