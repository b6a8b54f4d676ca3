"""Channel names for incidents: `inc-<n>-<slug of title>`, valid on every chat."""

from __future__ import annotations

import re
import unicodedata

CHANNEL_NAME_MAX = 80


def slugify(text: str) -> str:
    """Lowercase a-z, 0-9 and dashes; letters with accents lose them, other scripts drop out."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(number: int, title: str, max_length: int = CHANNEL_NAME_MAX) -> str:
    """`inc-12-checkout-api-returns-500s`; a title with no Latin letters gives `inc-12`."""
    prefix = f"inc-{number}"
    slug = slugify(title)
    if not slug:
        return prefix
    return f"{prefix}-{slug}"[:max_length].rstrip("-")
