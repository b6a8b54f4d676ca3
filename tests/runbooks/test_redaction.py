"""Redaction: secret values and credential-looking tokens become ••••••, nothing else changes."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC

import pytest

from bot.chat.run_messages import run_report
from bot.runbooks.redaction import MASK, Redactor
from tests.support.db_reads import events, snapshot
from tests.support.paths import repo_root
from tests.support.runbooks import commanding, runbook_application, runs, settle

SECRET = "hunter2-Sekret!"
REDACTOR = Redactor([SECRET, "abc", ""])

FAKE_TOKENS = {
    "slack bot": "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack user": "xoxp-1234567890-0987654321-1122334455-abcdef0123456789",
    "slack refresh": "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTA",
    "slack app": "xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef",
    "github classic": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "github fine-grained": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
    "github app": "ghs_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "aws temporary": "ASIAJEXAMPLEXEG2JICE",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP",
}


@pytest.mark.parametrize("kind", sorted(FAKE_TOKENS))
def test_well_known_tokens_are_masked(kind):
    token = FAKE_TOKENS[kind]
    masked = REDACTOR.mask(f"using {token} now")
    assert masked == f"using {MASK} now"


def test_secret_values_are_masked_wherever_they_appear():
    text = f"token is {SECRET}; again:{SECRET}{SECRET}"
    assert REDACTOR.mask(text) == f"token is {MASK}; again:{MASK}{MASK}"


def test_secrets_shorter_than_four_characters_are_not_masked():
    assert REDACTOR.mask("abc abcd") == "abc abcd"


def test_escaped_forms_of_a_secret_are_masked_too():
    secret = 'pa"ss wo/rd'
    redactor = Redactor([secret])
    assert SECRET not in redactor.mask(json.dumps({"v": secret}))
    for shown in (json.dumps(secret), repr(secret), "x=pa%22ss%20wo%2Frd", "x=pa%22ss+wo%2Frd"):
        assert "pa" not in redactor.mask(shown), shown


def test_the_longest_secret_wins_when_one_contains_another():
    redactor = Redactor(["abcd", "abcdefgh"])
    assert redactor.mask("abcdefgh abcd") == f"{MASK} {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", f"Authorization: Bearer {MASK}"),
        ("curl -H 'authorization: bearer t0ken'", f"curl -H 'authorization: bearer {MASK}'"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        ("sent Bearer 0123456789abcdef", f"sent Bearer {MASK}"),
        ("https://x/y?token=abc123&page=2", f"https://x/y?token={MASK}&page=2"),
        ("password=hunter2 user=bob", f"password={MASK} user=bob"),
        ("DB_PASSWORD = 'a b c' next", f"DB_PASSWORD = {MASK} next"),
        ("client_secret=xyz, done", f"client_secret={MASK}, done"),
        ("--api-key=k3y", f"--api-key={MASK}"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", f"AWS_SECRET_ACCESS_KEY={MASK}"),
        ('{"password": "p\\"w", "user": "bob"}', f'{{"password": "{MASK}", "user": "bob"}}'),
        ("postgres://app:s3cret@db:5432/app", f"postgres://app:{MASK}@db:5432/app"),
    ],
)
def test_credential_patterns(text, expected):
    assert REDACTOR.mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "restarted 3 pods in 12.5s, status=ok",
        "token_count=5 max_tokens=100",
        "we use a Bearer token for the API",
        "the secret: is patience",
        "see https://example.com/a@b for details",
        "xoxb- alone, ghp_short, AKIA123",
        "secret_name=db-credentials-ref",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert REDACTOR.mask(text) == text


def test_private_key_blocks_are_masked_whole():
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEA7zL0nLn7QqG5\nc2VjcmV0IGtleSBtYXRlcmlhbA==\n"
        "-----END RSA PRIVATE KEY-----"
    )
    masked = REDACTOR.mask(f"before\n{key}\nafter")
    assert masked == (
        f"before\n-----BEGIN RSA PRIVATE KEY-----{MASK}-----END RSA PRIVATE KEY-----\nafter"
    )
    unterminated = REDACTOR.mask("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nmore")
    assert unterminated == f"-----BEGIN OPENSSH PRIVATE KEY-----{MASK}"


def test_line_masker_drops_the_lines_of_a_key_block():
    masker = REDACTOR.line_masker()
    lines = [
        "key follows",
        "-----BEGIN EC PRIVATE KEY-----",
        "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oUJ0dSKuPpXHoAoGCCqGSM49",
        "AwEHoUQDQgAE",
        "-----END EC PRIVATE KEY----- trailing",
        "done",
    ]
    shown = [masker(line) for line in lines]
    assert shown == [
        "key follows",
        f"-----BEGIN EC PRIVATE KEY-----{MASK}",
        None,
        None,
        f"{MASK}-----END EC PRIVATE KEY----- trailing",
        "done",
    ]


def test_masking_twice_changes_nothing_more():
    text = (
        f"{SECRET} password=x Authorization: Bearer abc123 "
        f"https://u:p@h {FAKE_TOKENS['jwt']} {FAKE_TOKENS['slack bot']}"
    )
    once = REDACTOR.mask(text)
    assert REDACTOR.mask(once) == once
    assert SECRET not in once


def test_mask_value_masks_strings_inside_json_like_values():
    value = {
        "note": f"used {SECRET}",
        "items": [SECRET, 3, None, True, {"deep": (SECRET, 1.5)}],
        "password": "plain-looking",
        "github_token": "whatever",
        "token_count": 7,
        "secret_name": "kept",
        SECRET: "key holding a secret",
    }
    masked = REDACTOR.mask_value(value)
    assert masked == {
        "note": f"used {MASK}",
        "items": [MASK, 3, None, True, {"deep": (MASK, 1.5)}],
        "password": MASK,
        "github_token": MASK,
        "token_count": 7,
        "secret_name": "kept",
        MASK: "key holding a secret",
    }
    assert REDACTOR.mask_value(42) == 42
    assert REDACTOR.mask_value(None) is None


def test_has_secret_looks_for_values_only():
    assert REDACTOR.has_secret(f"--token={SECRET}")
    assert not REDACTOR.has_secret(f"--token={FAKE_TOKENS['aws']}")
    assert not Redactor([]).has_secret("anything")


def test_masking_is_fast_on_megabytes_of_output():
    redactor = Redactor([SECRET, "another-secret-value"])
    line = "2026-11-25 14:00:00 INFO pod api-7f9c restarted in 3.2s, status=ok path=/v1?id=42"
    text = "\n".join([line] * 50_000)  # about 4 MB
    started = time.perf_counter()
    assert redactor.mask(text) == text
    for _ in range(10_000):
        redactor.mask(line)
    assert time.perf_counter() - started < 2.0


# -- connection strings: their passwords on their own ------------------------------------


@pytest.mark.parametrize(
    ("dsn", "password", "shown"),
    [
        (  # libpq quotes the token it cannot decode
            "postgresql://app:LeakCheck42%zz@db:5432/app",
            "LeakCheck42%zz",
            'invalid percent-encoded token: "LeakCheck42%zz"',
        ),
        ("postgresql://app:p%40ss%20w0rd@db/app", "p@ss w0rd", "auth failed for 'p@ss w0rd'"),
        ("postgresql://app:p%40ss%20w0rd@db/app", "p%40ss%20w0rd", "token p%40ss%20w0rd"),
        ("postgresql://app:pa%25ss42@db/app", "pa%ss42", "value pa%2525ss42 or pa%ss42"),
        ("postgresql://db/app?user=app&password=q%2Fpw42", "q/pw42", 'bad "q/pw42"'),
        ("host=db user=app password=plain-pw42 dbname=app", "plain-pw42", "near plain-pw42"),
        ("host=db password='it\\'s secret' user=app", "it's secret", 'at "it\'s secret"'),
        ("redis://:hunter22@cache:6379/0", "hunter22", "AUTH hunter22 refused"),
    ],
)
def test_the_password_of_a_secret_connection_string_is_masked_on_its_own(dsn, password, shown):
    masked = Redactor([dsn]).mask(shown)

    assert password not in masked
    assert MASK in masked


def test_every_written_form_of_a_connection_string_password_is_masked():
    redactor = Redactor(["postgresql://app:LeakCheck42%zz@db:5432/app"])

    for form in ("LeakCheck42%zz", "LeakCheck42%25zz", '"LeakCheck42%zz"', "LeakCheck42%25zz"):
        assert "LeakCheck42" not in redactor.mask(f"error near {form}"), form
    assert redactor.mask("connected to db:5432 as app") == "connected to db:5432 as app"


def test_a_secret_that_is_no_connection_string_adds_nothing_else():
    redactor = Redactor(["plain-secret-value", "http://[not-a-url", "https://example.com/x"])

    assert redactor.mask("example.com answered") == "example.com answered"
    assert redactor.mask("not-a-url") == "not-a-url"


# -- through chat, the engine and the shipped postgres-health runbook ---------------------


@pytest.fixture
def application(settings, session_factory, chat, clock, tmp_path):
    application = runbook_application(
        settings,
        session_factory,
        chat,
        clock,
        folder=repo_root() / "runbooks",
        artifacts=tmp_path / "artifacts",
    )
    yield application
    application.runbooks.shutdown()


def test_a_dsn_password_that_libpq_quotes_appears_nowhere(
    alice, handler, application, session_factory, chat, caplog
):
    caplog.set_level(logging.DEBUG)
    commanding(alice)
    alice.says("runbook run postgres-health dsn=postgresql://app:LeakCheck42%zz@127.0.0.1:5432/app")
    settle(handler)
    application.deliverer.deliver_pending()

    (run,) = runs(session_factory)
    assert run.status == "failed"
    assert [(step.name, step.status) for step in run.steps] == [
        ("connect", "failed"),
        ("activity", "skipped"),
        ("replication", "skipped"),
    ]
    error = run.steps[0].error
    assert error is not None
    assert error == (
        "CannotConnect: could not connect: the dsn is not a valid connection string "
        '(ProgrammingError: invalid percent-encoded token: "…"); in a URL, special characters '
        "of the password must be percent-encoded (% as %25, @ as %40)"
    )
    # The person learns it: on the timeline, and in the run's report in the channel.
    assert f"Runbook postgres-health (run #1) failed in 0.0 s: step connect: {error}" in [
        event.text for event in events(session_factory)
    ]
    method, (_, ref, text) = chat.calls[-1]
    assert (method, ref, text) == (
        "update",
        run.message_ref,
        "Runbook postgres-health, run #1: failed",
    )
    assert f"connect: failed in 0.0 s — {error}" in run_report(run, UTC).lines[0]
    for where, seen in [
        ("chat", repr(chat.calls)),
        ("database", repr(snapshot(session_factory))),
        ("logs", caplog.text),
    ]:
        assert "LeakCheck42" not in seen, where
