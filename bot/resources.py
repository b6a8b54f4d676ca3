"""Where the files that ship with the bot are: migrations, templates, runbooks, schemas,
review rules.

This module is the one place that knows. In the repository the migrations, the
postmortem templates, the shipped runbooks and the published JSON Schemas are the
top-level folders `alembic/`, `templates/`, `runbooks/` and `schemas/`; a wheel
carries them inside the package, as `bot/shipped/migrations/`, `bot/shipped/templates/`,
`bot/shipped/runbooks/` and `bot/shipped/schemas/` (`package-dir` in pyproject.toml
maps the folders there). The blameless rules live in the package in both
(`bot/postmortems/blameless_rules/`).

Each folder is looked up with importlib.resources inside the installed package
first, then in the checkout that holds the `bot` package. Why not simply
`importlib.resources.files("bot.shipped.migrations")`: setuptools' editable
install (`pip install -e .`, which `make` uses) maps a package to a folder only
when the folder has an `__init__.py`, and these have none (an `alembic/__init__.py`
at the top of the repository would hide the Alembic library from any code run
there), so in an editable install those names do not import. Looking under
`files("bot")` and then in the checkout works the same in both installs.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

SHIPPED = "shipped"
"""The folder inside the installed package that holds what the wheel carries."""

_CHECKOUT = Path(__file__).resolve().parent.parent
"""The folder holding `bot`: the repository in a checkout, site-packages when installed."""


def _shipped_folder(name: str, checkout_name: str) -> Path:
    """`bot/shipped/<name>` in an installed wheel, else `<checkout>/<checkout_name>`.

    The checkout is only believed when it is one (it has a pyproject.toml): in
    site-packages, `alembic/` is the Alembic library, not the bot's migrations.
    When neither exists the packaged path is returned, so an error names it.
    """
    packaged = resources.files("bot").joinpath(SHIPPED, name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged.resolve()
    checkout = _CHECKOUT / checkout_name
    if (_CHECKOUT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return Path(str(packaged))


def migrations() -> Path:
    """The Alembic script folder: env.py, script.py.mako and versions/."""
    return _shipped_folder("migrations", "alembic")


def templates() -> Path:
    """The built-in postmortem templates (`*.md.j2`, `page.html.j2`)."""
    return _shipped_folder("templates", "templates")


def runbooks() -> Path:
    """The runbooks that ship with the bot."""
    return _shipped_folder("runbooks", "runbooks")


def schemas() -> Path:
    """The published JSON Schemas, such as the incident exchange format's."""
    return _shipped_folder("schemas", "schemas")


def blameless_rules() -> Traversable:
    """The built-in blameless review rules, one file per language."""
    return resources.files("bot.postmortems") / "blameless_rules"
