"""Layering rules that keep the optimizer a library and the app factory free of side effects."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_MATCHING = {"flask", "sqlalchemy", "web", "flask_babel", "flask_login", "alembic", "marshmallow"}


def _imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_matching_imports_no_framework():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_level_modules(path) & FORBIDDEN_IN_MATCHING)
        for path in (ROOT / "matching").rglob("*.py")
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}


def test_the_checker_sees_a_framework_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy\nfrom sqlalchemy.orm import Session\nfrom . import local\n", encoding="utf-8")
    assert _imported_top_level_modules(sample) & FORBIDDEN_IN_MATCHING == {"sqlalchemy"}


def test_importing_matching_loads_no_framework():
    forbidden = sorted(FORBIDDEN_IN_MATCHING)
    probe = f"import sys, matching; print(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_services_never_commit():
    """Only entry points (views, API handlers, CLI commands) commit; services flush."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "web" / "services").rglob("*.py")
        if ".commit()" in path.read_text(encoding="utf-8") and path.name != "jobs.py"
    ]
    assert offenders == []


def test_create_app_touches_no_database(tmp_path):
    """Building the app must not connect: a database URL that cannot work still builds."""
    from web import create_app

    app = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert app.extensions["craftmatch.db"]._engine is None


def _blueprint_modules() -> set[str]:
    """The modules of ``web/views`` that define a blueprint (the views), e.g. ``web.views.intake``."""
    return {f"web.views.{path.stem}" for path in (ROOT / "web" / "views").glob("*.py")
            if "Blueprint(" in path.read_text(encoding="utf-8")}


def _views_imported_by(path: Path, views: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    return imported & views


def test_no_view_imports_another_view():
    """Views share forms and helpers through modules without a blueprint (demand_form, forms, imports)."""
    views = _blueprint_modules()
    assert {"web.views.intake", "web.views.demands", "web.views.staff_intake"} <= views
    offenders = {
        f"web.views.{path.stem}": sorted(_views_imported_by(path, views - {f"web.views.{path.stem}"}))
        for path in (ROOT / "web" / "views").glob("*.py") if f"web.views.{path.stem}" in views
    }
    assert {view: imported for view, imported in offenders.items() if imported} == {}


def _matching_imports(path: Path) -> set[str]:
    """The ``matching.*`` modules a module imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("matching."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("matching."))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or [] (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_matching_modules_form_no_import_cycle():
    """Scoring, rules, groups and candidates import each other one way only, even inside functions."""
    graph = {path.stem: _matching_imports(path) - {path.stem} for path in (ROOT / "matching").glob("*.py")}
    assert _cycle(graph) == []


def test_the_cycle_checker_finds_a_cycle():
    assert _cycle({"scoring": {"rules"}, "rules": {"groups"}, "groups": {"scoring"}}) == [
        "groups", "scoring", "rules", "groups"]


def test_distances_are_computed_in_matching_only():
    """One great-circle formula (matching.kernels.km_from_dot): the application asks matching for distances."""
    offenders = [str(path.relative_to(ROOT)) for folder in ("web", "seeds") for path in (ROOT / folder).rglob("*.py")
                 if any(word in path.read_text(encoding="utf-8") for word in ("arcsin", "asin(", "haversine"))]
    assert offenders == []
