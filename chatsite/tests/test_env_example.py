""".env.example lists every variable the product reads, and only those.

The reads are collected from the code, not from a list kept by hand: calls of
the `chatsite.env` helpers and `os.environ` / `os.getenv` reads in every product
module (with `ast`), and the `${NAME:-default}` reads of the scripts a user runs
(`make run`, `make cluster`, `make broker`). A variable counts as listed when
`.env.example` has a `NAME=` line, commented out or not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

# Reads the source alone, no database or service: the same in either run.
pytestmark = pytest.mark.one_config

ROOT = Path(__file__).resolve().parents[2]
ENV_MODULE = ROOT / "chatsite" / "env.py"
SCRIPTS = ("scripts/run", "scripts/cluster", "scripts/broker")
# Read only to refuse start-up with a pointer to the variable that replaced it;
# .env.example names it in that variable's comment, not as one to set.
RETIRED = {"TRUSTED_PROXY_COUNT"}
# Folders that are not the product: the benchmark harness reads its own BENCH_*
# variables (docs/performance.md), tests set theirs.
NOT_PRODUCT = {"bench", "tests", "migrations", "node_modules", "staticfiles", "var", "artifacts"}

_LISTED = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
_SCRIPT_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-=?+][^}]*)?\}")


def env_helpers() -> set[str]:
    """The `chatsite.env` functions that take a variable's name (`name` or `*names`)."""
    helpers = set()
    for node in ast.parse(ENV_MODULE.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            args = node.args.posonlyargs + node.args.args
            if (args and args[0].arg == "name") or (node.args.vararg and node.args.vararg.arg == "names"):
                helpers.add(node.name)
    return helpers


def product_modules() -> list[Path]:
    modules = []
    for package in sorted(p.parent for p in ROOT.glob("*/__init__.py")):
        if package.name in NOT_PRODUCT:
            continue
        for path in sorted(package.rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts[:-1])
            if parts & NOT_PRODUCT or path.name.startswith("test_") or path.name == "conftest.py":
                continue
            modules.append(path)
    return modules + [ROOT / "manage.py"]


def _is_os_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_name(node.value, "os")


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def reads_in(path: Path, helpers: set[str]) -> tuple[set[str], list[str]]:
    """The variables a module reads, and the reads whose name is not a literal."""
    names: set[str] = set()
    unreadable: list[str] = []
    where = path.relative_to(ROOT)
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if _is_name(func.value, "env") and func.attr in helpers:
                for arg in node.args if func.attr == "require_together" else node.args[:1]:
                    if (name := _literal(arg)) is None:
                        unreadable.append(f"{where}:{node.lineno}")
                    else:
                        names.add(name)
            elif (func.attr == "get" and _is_os_environ(func.value)) or (
                func.attr == "getenv" and _is_name(func.value, "os")
            ):
                # Non-literal names are the generic readers (chatsite/env.py).
                if node.args and (name := _literal(node.args[0])):
                    names.add(name)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os_environ(node.value):
            if name := _literal(node.slice):
                names.add(name)
    return names, unreadable


def read_variables() -> tuple[set[str], list[str]]:
    helpers = env_helpers()
    names: set[str] = set()
    unreadable: list[str] = []
    for path in product_modules():
        found, bad = reads_in(path, helpers)
        names |= found
        unreadable += bad
    for script in SCRIPTS:
        names |= set(_SCRIPT_READ.findall((ROOT / script).read_text()))
    return names - RETIRED, unreadable


def listed_variables() -> set[str]:
    return set(_LISTED.findall((ROOT / ".env.example").read_text()))


def test_the_collector_finds_reads_of_every_kind():
    """Guards the test itself: a collector that found nothing would pass vacuously."""
    read, _ = read_variables()
    assert {"DJANGO_DEBUG", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_PASSWORD"} <= read  # env helpers
    assert {"ASGI_SERVER"} <= read  # os.environ in chatsite/serve.py
    assert {"NODES", "WORKERS", "BROKER_PORT"} <= read  # the scripts


def test_settings_name_every_variable_literally():
    _, unreadable = read_variables()
    assert not unreadable, f"environment reads whose name this test cannot see: {unreadable}"


def test_env_example_lists_every_variable_read_and_no_other():
    read, _ = read_variables()
    listed = listed_variables()
    missing = sorted(read - listed)
    stale = sorted(listed - read)
    assert not missing and not stale, (
        f".env.example misses {missing or 'nothing'} and lists {stale or 'nothing'} that nothing reads"
    )
