"""Find runbook files and read their metadata with `ast`, without running them.

Metadata is declared, not executed: listing, help and validation must run no
step, and no module code either. So a runbook file is parsed, never imported, and
the arguments of `@runbook(...)`, `@step(...)` and the option calls inside them
are evaluated statically (`bot.runbooks.declarations`). Only plain values written
out in the file are accepted; anything else is a problem with its file and line.
A runbook with any problem is left out of the catalog; one broken file never
stops the others from loading.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.runbooks.declarations import read_declarations
from bot.runbooks.spec import Problem, RunbookSpec


@dataclass
class Catalog:
    """Every runbook that loaded cleanly, by name, and every problem found."""

    runbooks: dict[str, RunbookSpec] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def discover(folders: Sequence[Path]) -> Catalog:
    """Read every runbook file under `folders` (recursively) without running any of it.

    Files named `_*.py`, `__pycache__` and hidden folders are skipped. When two
    runbooks share a name, the first found keeps it and both places are reported.
    """
    catalog = Catalog()
    seen: set[Path] = set()
    for folder in folders:
        for path in _runbook_files(folder, catalog.problems):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            specs, problems = read_file(path)
            catalog.problems.extend(problems)
            for spec in specs:
                first = catalog.runbooks.get(spec.name)
                if first is None:
                    catalog.runbooks[spec.name] = spec
                    continue
                catalog.problems.append(
                    Problem(
                        spec.path,
                        spec.line,
                        f"runbook name `{spec.name}` is already used at "
                        f"{first.path}:{first.line}; this one is not loaded",
                    )
                )
                catalog.problems.append(
                    Problem(
                        first.path,
                        first.line,
                        f"runbook name `{spec.name}` is used again at {spec.path}:{spec.line}",
                    )
                )
    catalog.problems.sort(key=lambda problem: (str(problem.path), problem.line))
    return catalog


def _runbook_files(folder: Path, problems: list[Problem]) -> list[Path]:
    if not folder.exists():
        problems.append(Problem(folder, 0, "runbook folder does not exist"))
        return []
    if not folder.is_dir():
        problems.append(Problem(folder, 0, "not a folder"))
        return []
    return sorted(
        path
        for path in folder.rglob("*.py")
        if path.is_file()
        and not path.name.startswith("_")
        and not any(
            part == "__pycache__" or part.startswith(".")
            for part in path.relative_to(folder).parts[:-1]
        )
    )


def read_file(path: Path) -> tuple[list[RunbookSpec], list[Problem]]:
    """The runbooks declared in one file, and the problems found in it."""
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [Problem(path, 0, "cannot read the file: it is not UTF-8 text")]
    except OSError as error:
        return [], [Problem(path, 0, f"cannot read the file: {error.strerror or error}")]
    return read_source(source, path)


def read_source(source: str, path: Path) -> tuple[list[RunbookSpec], list[Problem]]:
    """The runbooks declared in `source` (the text of the file at `path`), and its problems."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for "\d" in a string
            tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        return [], [Problem(path, error.lineno or 0, f"syntax error: {error.msg}")]
    except (ValueError, RecursionError) as error:  # NUL bytes; absurdly deep nesting
        return [], [Problem(path, 0, f"syntax error: {error or 'nested too deeply'}")]
    return read_declarations(path, tree)
