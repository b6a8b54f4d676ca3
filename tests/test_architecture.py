"""The tree is the architecture: layers point one way, adapters stay apart, no import circles.

Every import counts, including those inside functions and under `TYPE_CHECKING`.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
SLACK_LIBRARIES = ("slack_bolt", "slack_sdk")
DOMAIN_PACKAGES = ("incidents", "postmortems", "runbooks", "storage")
ABOVE_THE_DOMAIN = ("bot.chat", "bot.commands", "bot.app", "bot.cli", *SLACK_LIBRARIES)
ADAPTERS = ("bot.chat.slack", "bot.chat.console")


def _module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in BOT.rglob("*.py")}


def _imported_names(path: Path) -> Iterator[str]:
    """Every name an import statement reaches: `from a import b` gives `a` and `a.b`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _bot_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The bot modules one file imports: `from a import x` is `a.x` when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules and node.level == 0:
            for alias in node.names:
                found.add(
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                )
    return found


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_only_the_slack_adapter_imports_slack():
    offenders = [
        name
        for name, path in _modules().items()
        if not name.startswith("bot.chat.slack")
        and any(imported.split(".")[0] in SLACK_LIBRARIES for imported in _imported_names(path))
    ]
    assert offenders == []


def test_the_domain_imports_neither_commands_nor_chat_nor_slack():
    offenders = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        if _layer_of(name) in {f"bot.{package}" for package in DOMAIN_PACKAGES}
        for imported in _imported_names(path)
        if imported.startswith(ABOVE_THE_DOMAIN)
    ]
    assert offenders == []


def test_adapters_never_import_each_other():
    offenders = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        for adapter in ADAPTERS
        if name.startswith(adapter)
        for imported in _imported_names(path)
        if imported.startswith(ADAPTERS) and not imported.startswith(adapter)
    ]
    assert offenders == []


def test_no_import_circles():
    modules = _modules()
    graph = {name: _bot_imports(path, modules) - {name} for name, path in modules.items()}
    circles = []
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []
