"""The wheel is the whole bot: built, installed in a fresh venv, used from an empty folder.

The wheel is built from a copy of the working tree (so the checkout gets no
`build/` folder and two runs cannot race), without build isolation when this
environment's setuptools is recent enough, else with it (pip then installs
setuptools into a throwaway build environment from its index or cache).

The fresh venv has no pip and no system site-packages; the wheel is installed into
it with `--no-deps`, and a `.pth` file appends this environment's site-packages so
that the dependencies already installed here are found without downloading or
installing them again: that keeps the test at about 15 s. The `bot` package itself
can only come from the wheel: this environment reaches the checkout through an
editable-install finder that a `.pth` line naming a folder does not load, the
commands run from an empty folder outside the checkout, and PYTHONPATH is unset.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

from bot.config import SETTINGS
from bot.runbooks.discovery import discover

ROOT = Path(__file__).resolve().parents[2]
# Left out of the copy the wheel is built from: at the top, what is not the project's source
# (or could be large), and anywhere, what Python and the tools leave behind.
TOP_LEVEL_IGNORED = {
    ".git",
    ".venv",
    ".ci",
    "tests",
    "benchmarks",
    "build",
    "dist",
    "postmortems",
    "runbook-artifacts",
}
IGNORED_ANYWHERE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", "*.egg-info", ".*_cache", "*.db", "*.db-*", "*.log", ".env"
)


def _ignored(folder: str, names: list[str]) -> set[str]:
    ignored = set(IGNORED_ANYWHERE(folder, names))
    if Path(folder) == ROOT:
        ignored |= TOP_LEVEL_IGNORED.intersection(names)
    return ignored


BUILD_TIMEOUT = 180
COMMAND_TIMEOUT = 90

pytestmark = pytest.mark.distribution


@dataclass(frozen=True)
class Installed:
    """The bot installed from its wheel in a fresh venv, and an empty folder to run it in."""

    venv: Path
    workdir: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`incident-bot ARGS` from the empty folder; exit 0 and no traceback, or fail."""
        done = subprocess.run(
            [str(self.venv / "bin" / "incident-bot"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=self.workdir,
            env=self.env,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        shown = f"incident-bot {' '.join(args)}\n-- out:\n{done.stdout}\n-- err:\n{done.stderr}"
        assert done.returncode == 0, shown
        assert "Traceback" not in done.stdout + done.stderr, shown
        return done


def _setuptools_is_enough() -> bool:
    """Whether the setuptools here meets pyproject's build requirement (no isolation needed)."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["build-system"]
    wanted = next(
        (re.fullmatch(r"setuptools\s*>=\s*(\d+)", item) for item in requires["requires"]), None
    )
    try:
        have = int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return wanted is not None and have >= int(wanted.group(1))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "incident-bot"
    assert not source.is_relative_to(ROOT)
    shutil.copytree(ROOT, source, ignore=_ignored)
    out = tmp_path_factory.mktemp("wheel")
    isolation = ["--no-build-isolation"] if _setuptools_is_enough() else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", out, source],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("incident_bot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    assert not base.is_relative_to(ROOT)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python"]
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "-q", wheel],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = Path(
        subprocess.run(
            [venv / "bin" / "python", "-c", where],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
    )
    here = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (purelib / "_incident_bot_test_dependencies.pth").write_text("\n".join(here) + "\n", "utf-8")

    workdir = base / "empty"
    workdir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
        and key not in {setting.env for setting in SETTINGS.values()}
    }
    env.update(
        HOME=str(base / "home"),
        DATABASE_URL=f"sqlite:///{base / 'incidents.db'}",
        LOG_FILE=str(base / "bot.log"),
        RUNBOOK_ARTIFACTS_DIR=str(base / "artifacts"),
        COLUMNS="200",
    )
    return Installed(venv=venv, workdir=workdir, env=env)


def test_the_wheel_holds_every_module_and_every_shipped_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {path.relative_to(ROOT).as_posix() for path in (ROOT / "bot").rglob("*.py")}
    expected = {name for name in expected if "__pycache__" not in name}
    shipped = {
        "alembic": ("bot/shipped/migrations", ("*.py", "*.mako")),
        "templates": ("bot/shipped/templates", ("*.j2",)),
        "runbooks": ("bot/shipped/runbooks", ("*.py",)),
        "schemas": ("bot/shipped/schemas", ("*.json",)),
        "bot/postmortems/blameless_rules": ("bot/postmortems/blameless_rules", ("*.toml",)),
    }
    for folder, (inside, patterns) in shipped.items():
        for pattern in patterns:
            for path in (ROOT / folder).rglob(pattern):
                if "__pycache__" not in path.parts:
                    expected.add(f"{inside}/{path.relative_to(ROOT / folder).as_posix()}")
    missing = sorted(expected - names)
    assert missing == [], (
        "missing from the wheel (a new package under bot/ must be listed in "
        f"pyproject.toml's [tool.setuptools] packages): {missing}"
    )
    # Nothing lands beside `bot` (an `alembic/` there would be the Alembic library's folder).
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"bot"}


def test_the_installed_bot_works_from_any_folder(installed: Installed):
    run = installed.run
    # Everything comes from the venv: the package and each folder it ships.
    done = subprocess.run(
        [
            installed.python,
            "-c",
            "import bot, bot.resources as r; "
            "print(bot.__file__, r.migrations(), r.templates(), r.runbooks(), r.schemas(), "
            "sep='\\n')",
        ],
        cwd=installed.workdir,
        env=installed.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=COMMAND_TIMEOUT,
    )
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(installed.venv.resolve()), done.stdout
        assert Path(line).exists(), line

    assert "Database is up to date." in run("db", "upgrade").stdout
    revisions = {
        found.group(1)
        for path in (ROOT / "alembic" / "versions").glob("*.py")
        if (found := re.search(r'^revision: str = "(\w+)"', path.read_text("utf-8"), re.M))
    }
    assert run("db", "current").stdout.strip() == max(revisions)

    shipped = sorted(discover([ROOT / "runbooks"]).runbooks)
    assert len(shipped) >= 5
    checked = run("runbooks", "check").stdout
    assert f"{len(shipped)} runbooks OK, 0 problems" in checked

    session = "\n".join(
        [
            "/incident declare sev2 Checkout API returns 500s",
            "/incident runbook list",
            "/incident runbook run host-snapshot",
            "/incident resolve Rollback fixed it",
            "/incident postmortem",
            "",
        ]
    )
    chat = run("shell", "--user", "alice", stdin=session).stdout
    assert "INC-1" in chat and "Checkout API returns 500s" in chat
    missing = [name for name in shipped if name not in chat]
    assert missing == [], chat
    assert re.search(r"host-snapshot, run #1: succeeded", chat), chat
    assert "Resolved" in chat, chat
    drafts = list((installed.workdir / "postmortems").glob("INC-1*.md"))
    assert drafts, chat
    assert "Checkout API returns 500s" in drafts[0].read_text("utf-8")

    page = run("postmortem", "INC-1", "--format", "html").stdout
    assert "<html" in page and "</html>" in page
    assert "Checkout API returns 500s" in page

    # Importing validates against the schema the wheel ships; this file is INC-1 itself.
    assert run("export", "INC-1", "-o", "inc-1.json").stdout == "inc-1.json\n"
    imported = run("import", "inc-1.json").stdout
    assert imported == "inc-1.json: already here as INC-1; nothing changed\n"

    log = Path(installed.env["LOG_FILE"])
    assert "Traceback" not in (log.read_text("utf-8") if log.exists() else "")
