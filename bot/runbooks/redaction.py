"""Hide secrets in what runbooks print, log, raise and return.

A `Redactor` knows the secret values of one run and replaces each of them, and
anything shaped like a well-known credential (Slack, GitHub and AWS tokens,
`Bearer` headers, `password=...`, private key blocks, JWTs), with `••••••`.
It is deterministic, idempotent (masking twice changes nothing more) and cheap
enough to run on every line of output.

A secret that is a connection string (`postgresql://app:pw@db/app`, `host=db
password=pw`) or a URL with a password is masked whole, and its password on its
own too, as written and percent-decoded: drivers quote fragments of a connection
string they cannot read (libpq: `invalid percent-encoded token: "pw%zz"`).

Output streamed line by line needs `LineMasker` for private key blocks, which
span lines: the lines between BEGIN and END are dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "••••••"
MIN_SECRET_LENGTH = 4
KEY_BLOCK_MAX_LINES = 200

_KEYWORD = (
    r"(?:password|passwd|passphrase|secret|token|credentials?|"
    r"(?:api|access|secret|private|signing|encryption)[_-]?key)"
)
_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_KEY_BLOCK = re.compile(
    r"(-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
    r"(?:.*?(-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)|.*\Z)",
    re.DOTALL,
)

_KEYWORD_PARTS = ("pass", "secret", "token", "key", "credential")


def _has(*needles: str) -> Callable[[str, str], bool]:
    return lambda text, lower: any(needle in text for needle in needles)


def _has_lower(*needles: str) -> Callable[[str, str], bool]:
    return lambda text, lower: any(needle in lower for needle in needles)


def _has_keyword(sign: str) -> Callable[[str, str], bool]:
    return lambda text, lower: sign in text and any(part in lower for part in _KEYWORD_PARTS)


# (pattern, replacement, worth trying): the replacement keeps the groups that are not
# secret; the cheap test (on the text and its lower case) skips a pattern that cannot match.
_PATTERNS: tuple[tuple[re.Pattern[str], str, Callable[[str, str], bool]], ...] = (
    # Slack bot/user/app-level/refresh tokens: xoxb-..., xoxp-..., xoxe.xoxp-..., xapp-...
    (
        re.compile(r"(?<![\w-])(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]{6,}"),
        MASK,
        _has("xox", "xapp-"),
    ),
    # GitHub personal, OAuth, app and refresh tokens; fine-grained personal tokens.
    (
        re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"),
        MASK,
        _has("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    # AWS access key ids (long-term and temporary).
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"), MASK, _has("AKIA", "ASIA")),
    # JSON Web Tokens: base64url header and payload, both starting with `{"`.
    (
        re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
        MASK,
        _has("eyJ"),
    ),
    # `Authorization: Basic ...` (and any other scheme) headers.
    (
        re.compile(
            r"(?i)(\bauthorization[\"']?[ \t]*[:=][ \t]*[\"']?(?:[a-z]+[ \t]+)?)[^\s\"',;]+"
        ),
        rf"\1{MASK}",
        _has_lower("authorization"),
    ),
    # `Bearer <token>` anywhere: a token with a digit, or a long one.
    (
        re.compile(r"(?i)(\bbearer[ \t]+)(?=[\w.~+/-]*\d|[\w.~+/-]{20})[\w.~+/-]+=*"),
        rf"\1{MASK}",
        _has_lower("bearer"),
    ),
    # Credentials in URLs: scheme://user:password@host
    (
        re.compile(r"(?i)(?<![\w+.-])([a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+(@)"),
        rf"\1{MASK}\2",
        lambda text, lower: "://" in text and "@" in text,
    ),
    # password=..., token=..., my_secret = '...', ?api_key=...&
    (
        re.compile(rf"(?i)({_KEYWORD}[ \t]*=[ \t]*)(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s&\"',;]+)"),
        rf"\1{MASK}",
        _has_keyword("="),
    ),
    # "password": "...", in JSON
    (
        re.compile(rf"(?i)({_KEYWORD}\"[ \t]*:[ \t]*)\"(?:[^\"\\\n]|\\.)*\""),
        rf'\1"{MASK}"',
        _has_keyword('"'),
    ),
)

_SECRET_KEY = re.compile(rf"(?i)(?:^|[_.\s-]){_KEYWORD}$|^authorization$")
_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']+))")


def passwords_in(secret: str) -> list[str]:
    """The passwords a connection string or URL holds, as written and percent-decoded."""
    found: list[str] = []
    if "://" in secret:
        try:
            parts = urlsplit(secret.strip())
            found.append(parts.password or "")
            found += [value for key, value in parse_qsl(parts.query) if key == "password"]
        except ValueError:
            pass
    for match in _CONNINFO_PASSWORD.finditer(secret):
        quoted, bare = match.groups()
        found.append(bare if quoted is None else re.sub(r"\\(.)", r"\1", quoted))
    return [form for password in found if password for form in (password, unquote(password))]


class Redactor:
    """Masks the given secret values (those of at least 4 characters) and credential patterns."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values: set[str] = set()
        given = [secret for secret in secrets if isinstance(secret, str)]
        for secret in [*given, *(password for value in given for password in passwords_in(value))]:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            # The value as written, and as it appears escaped in JSON, repr() and URLs.
            for variant in (
                secret,
                json.dumps(secret)[1:-1],
                repr(secret)[1:-1],
                quote(secret, safe=""),
                quote_plus(secret, safe=""),
            ):
                if len(variant) >= MIN_SECRET_LENGTH and variant != MASK:
                    values.add(variant)
        self._values = tuple(sorted(values, key=lambda value: (-len(value), value)))
        self._secrets: re.Pattern[str] | None = (
            re.compile("|".join(map(re.escape, self._values))) if self._values else None
        )

    def has_secret(self, text: str) -> bool:
        """Whether `text` contains one of the secret values given (patterns not considered)."""
        return self._secrets is not None and self._secrets.search(text) is not None

    def mask(self, text: str) -> str:
        """`text` with every secret value and credential-looking token replaced by `••••••`."""
        if not text:
            return text
        if "PRIVATE KEY" in text:
            text = _KEY_BLOCK.sub(_masked_key_block, text)
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        lower = text.lower()
        for pattern, replacement, worth_trying in _PATTERNS:
            if worth_trying(text, lower):
                text = pattern.sub(replacement, text)
        return text

    def mask_value(self, obj: object) -> object:
        """A copy of a JSON-like value with every string masked.

        Dict structure is kept: a key is masked only if it contains a secret itself,
        and the string value of a key named like a credential (`password`, `token`,
        `api_key`, `client_secret`...) is hidden whole.
        """
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            masked: dict[object, object] = {}
            for key, value in obj.items():
                shown = self.mask(key) if isinstance(key, str) else key
                while shown in masked:
                    shown = f"{shown}'"
                if isinstance(key, str) and isinstance(value, str) and value:
                    masked[shown] = MASK if _SECRET_KEY.search(key) else self.mask(value)
                else:
                    masked[shown] = self.mask_value(value)
            return masked
        if isinstance(obj, list):
            return [self.mask_value(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self.mask_value(item) for item in obj)
        return obj

    def line_masker(self) -> LineMasker:
        """A masker for one stream of lines (it remembers being inside a private key block)."""
        return LineMasker(self)


class LineMasker:
    """Masks a stream line by line; drops the lines of a private key block.

    Calling it returns the masked line, or None for a line inside a key block.
    A block that has not ended after `KEY_BLOCK_MAX_LINES` lines is given up on.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._inside = 0

    def __call__(self, line: str) -> str | None:
        if self._inside:
            end = _KEY_END.search(line)
            if end is None:
                self._inside = self._inside + 1 if self._inside < KEY_BLOCK_MAX_LINES else 0
                return None
            self._inside = 0
            return self._redactor.mask(MASK + line[end.start() :])
        masked = self._redactor.mask(line)
        if "PRIVATE KEY" in line:
            begins = list(_KEY_BEGIN.finditer(line))
            if begins and _KEY_END.search(line, begins[-1].end()) is None:
                self._inside = 1
        return masked


def _masked_key_block(match: re.Match[str]) -> str:
    return f"{match.group(1)}{MASK}{match.group(2) or ''}"
