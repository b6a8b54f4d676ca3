"""The HTTP front under hostile requests: refused early, one log line each, no body logged.

Every request goes to the bot as `run` serves it (waitress with the body cap, the
front, Bolt), and each refusal sits beside the genuine request that still works.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.slack.server import EVENTS_PATH
from bot.config import Settings
from tests.support.db_reads import snapshot
from tests.support.signing import slack_signature
from tests.support.slack_double import SlackApiDouble
from tests.support.slack_harness import SIGNING_SECRET, BotServer
from tests.support.slack_users import ALICE
from tests.support.waiting import eventually

FRONT = "bot.chat.slack.http_front"
SECRET = "LeakCheck42"  # stands for a password a request body may carry
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def bot(
    settings: Settings,
    session_factory: sessionmaker[Session],
    double: SlackApiDouble,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[BotServer]:
    caplog.set_level(logging.DEBUG)  # before the app is built: Bolt fixes its loggers' level
    with BotServer(settings, session_factory, double) as server:
        yield server


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == FRONT]


def assert_quiet_refusal(caplog: pytest.LogCaptureFixture, reason: str) -> None:
    """One line from the front naming the reason and the address, no traceback, no body."""
    assert refusals(caplog) == [f"Refused a request from 127.0.0.1: {reason}"]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert SECRET not in caplog.text
    # waitress warns of its own queue when the machine is busy: that is not about the request.
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name != "waitress.queue"
    ]
    assert warnings == refusals(caplog)


def slash_fields(double: SlackApiDouble, room: str, text: str, answer: str) -> dict[str, str]:
    return {
        "command": "/incident",
        "text": text,
        "user_id": ALICE,
        "channel_id": room,
        "team_id": double.team_id,
        "trigger_id": "1.2.3",
        "response_url": double.response_url(answer),
    }


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send `request` as is and read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


# --------------------------------------------------------------------------- the body cap


def test_a_body_over_the_cap_is_refused_413_before_it_is_read(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory, caplog
):
    cap = bot.settings.slack_max_body_bytes
    assert cap == 1024 * 1024  # the default

    # It says 100 MB are coming and sends 1 KB of them: the answer comes anyway, so the
    # server did not wait for (or read) the rest.
    caplog.clear()
    head = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    ).encode()
    answer = raw_exchange(bot.port, head + f"dsn={SECRET}&".encode() * 64)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert_quiet_refusal(caplog, "its body is larger than SLACK_MAX_BODY_BYTES")

    # Without a Content-Length (chunked), reading stops at the cap.
    caplog.clear()
    chunked = (
        f"POST {EVENTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
        f"Transfer-Encoding: chunked\r\n\r\n{cap + 1:x}\r\n"
    ).encode()
    answer = raw_exchange(bot.port, chunked + b"x" * (cap + 1))
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert_quiet_refusal(caplog, "its body is larger than SLACK_MAX_BODY_BYTES")
    bot.settle()
    assert double.calls == []

    # A signed command padded to exactly the cap is still served.
    fields = slash_fields(double, room, "list", "at-the-cap")
    body = urlencode({**fields, "padding": ""}).encode()
    body += b"x" * (cap - len(body))
    assert len(body) == cap
    assert bot.post(body, FORM).status == 200
    reply = eventually(lambda: double.responses_to("at-the-cap"))
    assert "No open incidents" in reply[0]["text"]


def test_the_cap_is_a_setting(
    settings: Settings, session_factory, double: SlackApiDouble, room: str, caplog
):
    small = dataclasses.replace(settings, slack_max_body_bytes=2000)
    with BotServer(small, session_factory, double) as bot:
        fields = slash_fields(double, room, "list", "small")
        assert bot.post_form({**fields, "padding": "x" * 2000}).status == 413
        assert bot.post_form(fields).status == 200
        eventually(lambda: double.responses_to("small"))
    assert refusals(caplog) == [
        "Refused a request from 127.0.0.1: its body is larger than SLACK_MAX_BODY_BYTES"
    ]


# --------------------------------------------------------------------------- malformed requests


def signed_headers(body: bytes, *, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, stamp, body),
    }


MALFORMED = [
    pytest.param(
        "timestamp-not-a-number",
        lambda body: {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
        FORM,
        401,
        "its X-Slack-Request-Timestamp is not a number",
        id="timestamp-not-a-number",
    ),
    pytest.param(
        "timestamp-of-other-digits",  # "²" passes str.isdigit but not int()
        lambda body: {"X-Slack-Request-Timestamp": "1²", "X-Slack-Signature": "v0=" + "0" * 64},
        FORM,
        401,
        "its X-Slack-Request-Timestamp is not a number",
        id="timestamp-of-other-digits",
    ),
    pytest.param(
        "signature-not-ascii",  # hmac.compare_digest refuses to compare non-ASCII text
        lambda body: {**signed_headers(body), "X-Slack-Signature": "v0=" + "ÿ" * 64},
        FORM,
        401,
        "its X-Slack-Signature is not of the form v0=<64 hex digits>",
        id="signature-not-ascii",
    ),
    pytest.param(
        "signature-forged",
        lambda body: {
            **signed_headers(body),
            "X-Slack-Signature": slack_signature("not-the-secret", str(int(time.time())), body),
        },
        FORM,
        401,
        "its signature does not match the signing secret",
        id="signature-forged",
    ),
    pytest.param(
        "unsigned",
        lambda body: {},
        FORM,
        401,
        "it is not signed (no X-Slack-Signature or X-Slack-Request-Timestamp)",
        id="unsigned",
    ),
]


@pytest.mark.parametrize(("name", "headers", "content_type", "status", "reason"), MALFORMED)
def test_malformed_signatures_and_timestamps_get_401_and_one_line(
    bot: BotServer,
    double: SlackApiDouble,
    room: str,
    session_factory,
    caplog,
    name,
    headers,
    content_type,
    status,
    reason,
):
    before = snapshot(session_factory)
    text = f"runbook run INC-1 postgres-health dsn=postgresql://app:{SECRET}@db/app"
    body = urlencode(slash_fields(double, room, text, name)).encode()
    caplog.clear()
    answer = bot.post(body, content_type, signed=False, headers=headers(body))
    assert answer.status == status
    assert SECRET.encode() not in answer.body
    assert_quiet_refusal(caplog, reason)
    bot.settle()
    assert snapshot(session_factory) == before
    assert double.calls == []

    # The same command, signed as Slack signs it, is served.
    assert bot.post(body, content_type, signed=False, headers=signed_headers(body)).status == 200
    eventually(lambda: double.responses_to(name))


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        pytest.param(
            b"payload={x&dsn=" + SECRET.encode(),
            FORM,
            "its body does not parse (JSONDecodeError)",
            id="payload-not-json",
        ),
        pytest.param(
            b"payload=%5B1%5D&dsn=" + SECRET.encode(),  # payload=[1]: JSON, but not an object
            FORM,
            "its body does not parse (AttributeError)",
            id="payload-not-an-object",
        ),
        pytest.param(
            b'["dsn=' + SECRET.encode() + b'"]',
            "application/json",
            "its body does not parse (AttributeError)",
            id="json-not-an-object",
        ),
        pytest.param(
            b"text=\xff\xfe&dsn=" + SECRET.encode(), FORM, "its body is not UTF-8", id="not-utf-8"
        ),
    ],
)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_bodies_that_do_not_parse_get_400_and_one_line(
    bot: BotServer,
    double: SlackApiDouble,
    session_factory,
    caplog,
    body,
    content_type,
    reason,
    signed,
):
    before = snapshot(session_factory)
    caplog.clear()
    answer = bot.post(body, content_type, signed=signed)
    assert answer.status == 400
    assert_quiet_refusal(caplog, reason)
    bot.settle()
    assert snapshot(session_factory) == before
    assert double.calls == []


def test_a_late_genuine_request_is_refused_without_logging_its_secret(
    bot: BotServer, double: SlackApiDouble, room: str, session_factory, caplog
):
    # A raw newline in the body would forge a log line if the body were logged.
    text = f"runbook run INC-1 postgres-health dsn=postgresql://app:{SECRET}@db/app\nINFO forged"
    fields = slash_fields(double, room, text, "late")
    late = str(int(time.time()) - 6 * 60)
    caplog.clear()
    assert bot.post_form(fields, timestamp=late).status == 401
    assert_quiet_refusal(caplog, "it was signed more than 5 minutes ago (late, or replayed)")
    assert "forged" not in caplog.text

    # On time, the same request is served.
    assert bot.post_form(slash_fields(double, room, "list", "on-time")).status == 200
    eventually(lambda: double.responses_to("on-time"))
    bot.settle()
    assert SECRET not in caplog.text
    assert double.responses_to("late") == []


def test_url_verification_needs_a_signature_too(bot: BotServer, caplog):
    challenge = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}
    caplog.clear()
    refused = bot.post(json.dumps(challenge).encode(), "application/json", signed=False)
    assert refused.status == 401
    assert b"3eZbrw1a" not in refused.body
    assert len(refusals(caplog)) == 1
    assert bot.post_json(challenge).json() == {"challenge": challenge["challenge"]}
