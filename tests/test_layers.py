"""The layers of gotrue_web, read from its imports: what each package may import (the table in
docs/architecture.md), no import cycles, no endpoint importing another, no module over 450
lines and no folder over 20 modules. Imports under ``if TYPE_CHECKING:`` do not count; imports
inside functions do (that is how cycles hide)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gotrue_web"

# Layer -> the layers of gotrue_web it may import. A layer is the first name under
# gotrue_web (a package or a top-level module); its own modules may import each other.
LEAVES = {"errors", "durations", "proxies", "sqlite_wal", "libpq_cursor"}
ALLOWED = {
    "errors": set(),
    "durations": set(),
    "proxies": set(),
    # Switching a SQLite file to WAL (the app's database and the rate limit counters).
    "sqlite_wal": set(),
    "security": {"errors", "durations"},
    "settings": {"errors", "durations", "proxies", "security"},
    # A PostgreSQL connection's session settings (no imports of the project).
    "pg_session": set(),
    "db": {"sqlite_wal", "pg_session"},
    "models": {"db"},
    "extensions": {"db"},
    # The hot paths' statements through libpq on PostgreSQL (psycopg only).
    "libpq_cursor": set(),
    # Prebuilt statements on the driver's cursor, for the hot paths.
    "driver_sql": {"db", "extensions", "libpq_cursor"},
    "transports": {"errors", "settings", "security"},
    "ratelimit": {"settings", "sqlite_wal"},
    "runtime": {"settings", "security", "transports", "ratelimit"},
    "services": {"errors", "durations", "security", "settings", "db", "models", "extensions",
                 "driver_sql", "transports", "runtime", "ratelimit", "serializers"},
    "serializers": {"models"},
    "api": {"errors", "security", "settings", "db", "models", "extensions", "runtime",
            "ratelimit", "services", "serializers", "__init__"},
    "console": {"errors", "durations", "security", "settings", "db", "models", "extensions",
                "runtime", "services", "serializers", "transports"},
    # Commands, like the API's and the console's views, call the services.
    "cli": {"errors", "extensions", "runtime", "console", "services"},
    # gunicorn's worker class (gunicorn.conf.py): the server, not the application.
    "gunicorn_worker": set(),
    # JSON logs and request ids: WSGI middleware and logging set-up, loaded by the factory and
    # by gunicorn.conf.py.
    "observability": set(),
    # The factory wires everything together.
    "__init__": {"*"},
}
# Third-party packages a layer must not use.
FORBIDDEN_LIBRARIES = {
    "security": {"flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug"},
    "settings": {"flask", "flask_sqlalchemy", "werkzeug"},
    "transports": {"flask", "flask_sqlalchemy", "sqlalchemy"},
    "models": {"flask"},
    "services": {"flask", "werkzeug"},
    "ratelimit": {"flask"},
    "gunicorn_worker": {"flask", "flask_sqlalchemy", "sqlalchemy"},
    "observability": {"flask", "flask_sqlalchemy", "sqlalchemy"},
}
# console.operations is the console's service layer: no request handling there either.
OPERATIONS_FORBIDDEN = {"flask", "werkzeug"}
API_HELPERS = {"__init__", "params", "guards", "errors"}
MAX_LINES, MAX_MODULES = 450, 20


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names this module imports (modules and module.attribute)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                visit(ast.iter_child_nodes(node))

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


MODULES = _modules()
IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _internal_edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, imported in IMPORTS.items():
        is_package = MODULES[name].name == "__init__.py"
        for target in imported:
            if target in MODULES and target != name and not (
                    is_package and target.startswith(name + ".")):
                graph[name].add(target)
    return graph


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for name, targets in sorted(_internal_edges().items()):
        layer = _layer(name)
        allowed = ALLOWED[layer]
        for target in sorted(targets):
            other = _layer(target)
            if other != layer and "*" not in allowed and other not in allowed:
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_layers_keep_away_from_the_libraries_of_other_layers():
    wrong = []
    for name, imported in sorted(IMPORTS.items()):
        libraries = {module.split(".")[0] for module in imported if module}
        forbidden = set(FORBIDDEN_LIBRARIES.get(_layer(name), ()))
        if name.startswith("gotrue_web.console.operations"):
            forbidden |= OPERATIONS_FORBIDDEN
        wrong += [f"{name} imports {library}" for library in sorted(libraries & forbidden)]
    assert wrong == []


def test_api_and_console_never_import_each_other_and_endpoints_stand_alone():
    wrong = []
    for name, targets in sorted(_internal_edges().items()):
        for target in sorted(targets):
            if {_layer(name), _layer(target)} == {"api", "console"}:
                wrong.append(f"{name} -> {target}")
            if (_layer(name) == _layer(target) == "api"
                    and name.split(".")[-1] not in API_HELPERS
                    and target.split(".")[-1] not in API_HELPERS and target != "gotrue_web.api"):
                wrong.append(f"endpoint {name} -> endpoint {target}")
    assert wrong == []


def test_there_are_no_import_cycles():
    graph = _internal_edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongly_connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                strongly_connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            strongly_connect(module)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


def test_folders_stay_small():
    per_folder: dict[Path, int] = defaultdict(int)
    for path in MODULES.values():
        if path.name != "__init__.py":
            per_folder[path.parent] += 1
    assert {str(folder): count for folder, count in per_folder.items()
            if count > MAX_MODULES} == {}


def test_every_layer_of_the_package_is_in_the_table():
    assert {_layer(name) for name in MODULES} <= set(ALLOWED)


def test_every_folder_is_a_regular_package():
    # setuptools' package discovery (pyproject) skips folders without __init__.py: their
    # modules would be missing from an installed copy.
    folders = {path.parent for path in PACKAGE.rglob("*.py")}
    assert sorted(str(folder) for folder in folders
                  if not (folder / "__init__.py").exists()) == []
