"""The structure docs/architecture.md states, checked against the code with
the standard library's `ast`:

- the apps are layered: an app imports only itself and the apps below it,
  in the order the document lists (the composition root excepted);
- an import inside a function says why, in a comment just above it;
- every module and name the "Where does a rule live" table names exists.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

# Reads the source alone, no database or service: the same in either run.
pytestmark = pytest.mark.one_config

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"

# Modules that wire the apps together (Django's settings, URL configuration
# and ASGI application): they name every app, as a project's root must.
COMPOSITION_ROOT = {"chatsite/settings.py", "chatsite/urls.py", "chatsite/asgi.py", "chatsite/wsgi.py"}


def layers() -> list[str]:
    """The apps, lowest first, from the document's "Layers, lowest first:" line."""
    m = re.search(r"^Layers, lowest first: (.+)$", DOC.read_text(), re.M)
    assert m, f"{DOC.name} has no 'Layers, lowest first:' line"
    return [name.strip(" `.") for name in m[1].split(",")]


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository
    line: int
    module: str
    in_function: bool
    explained: bool


def _source_files(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or "migrations" in rel.parts:
            continue
        yield path, str(rel)


def _explained(lines: list[str], lineno: int, start: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs
    to (within its function)."""
    if "#" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= start and re.match(r"\s*(from \S+ )?import |\s*$", lines[i]):
        i -= 1
    return i >= start and lines[i].strip().startswith("#")


def imports(app: str) -> list[Import]:
    found = []
    for path, rel in _source_files(app):
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        inside: dict[int, int] = {}  # id(import node) -> first line of its function
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        inside.setdefault(id(sub), node.lineno)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            start = inside.get(id(node))
            for module in modules:
                found.append(
                    Import(
                        path=rel,
                        line=node.lineno,
                        module=module,
                        in_function=start is not None,
                        explained=start is None or _explained(lines, node.lineno, start),
                    )
                )
    return found


def test_the_document_lists_every_app_once():
    from django.apps import apps

    ours = {c.name for c in apps.get_app_configs() if (ROOT / c.name.split(".")[0]).is_dir()}
    listed = layers()
    assert len(listed) == len(set(listed))
    assert {name.split(".")[0] for name in ours} == set(listed)


def test_apps_import_only_themselves_and_the_apps_below():
    order = layers()
    rank = {app: n for n, app in enumerate(order)}
    upward = []
    for app in order:
        for imp in imports(app):
            top = imp.module.split(".")[0]
            if top not in rank or imp.path in COMPOSITION_ROOT:
                continue
            if rank[top] > rank[app]:
                upward.append(f"{imp.path}:{imp.line} imports {imp.module} ({app} is below {top})")
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_imports_inside_functions_say_why():
    silent = [
        f"{imp.path}:{imp.line} {imp.module}"
        for app in layers()
        for imp in imports(app)
        if imp.in_function and not imp.explained
    ]
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(silent)


# --------------------------------------------------------------------------- where does a rule live


_ROW = re.compile(r"^\|\s*[^|]+\|\s*`(?P<path>[\w/.]+\.py)`(?:\s*`(?P<name>[\w.]+)`)?\s*\|")


def rule_homes() -> list[tuple[str, str | None]]:
    text = DOC.read_text()
    start = text.index("## Where does a rule live")
    end = text.find("\n## ", start + 1)
    rows = []
    for line in text[start : end if end != -1 else None].splitlines():
        m = _ROW.match(line)
        if m:
            rows.append((m["path"], m["name"]))
    return rows


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {
                    f"{node.name}.{sub.name}"
                    for sub in node.body
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))
                }
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_rule_home_exists():
    rows = rule_homes()
    assert len(rows) >= 15, f"the table in {DOC.name} lost its rows"
    missing = []
    for path, name in rows:
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
        elif name is not None and name not in _defined(file):
            missing.append(f"{path} {name}")
    assert not missing, f"{DOC.name} names what does not exist: {missing}"
