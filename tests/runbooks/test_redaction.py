"""Redaction: secret values and credential-looking tokens become ••••••, nothing else changes."""

from __future__ import annotations

import json
import time

import pytest

from bot.runbooks.redaction import MASK, Redactor

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
