"""The environment is read once, with the settings: no module reads os.environ (or os.getenv)
but the settings loading and the process entry points, which export what their child processes
need. Writes are allowed where a library must find a value there (MLflow, cuBLAS)."""

from __future__ import annotations

import ast

from components.settings import PROJECT_ROOT

PACKAGES = ("clip_pipeline", "flows", "infra", "components")
# settings loading; the entry points (the CLI, the process spawners of the local stack, which
# hand the user's environment to the servers they start)
ALLOWED = {
    "components/settings/resolve.py",
    "clip_pipeline/cli.py",
    "infra/local/service.py",
    "infra/local/seaweedfs.py",
}


def _reads(tree: ast.AST) -> list[int]:
    """Lines that read the environment: os.environ in any load context (a subscript read, .get,
    .items, a copy, setdefault), os.getenv; a plain `os.environ[k] = v` or .pop is a write."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func
            if target.attr == "getenv" and getattr(target.value, "id", None) == "os":
                lines.append(node.lineno)
        if not (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and getattr(node.value, "id", None) == "os"
        ):
            continue
        lines.append(node.lineno)
    return lines


def _writes(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and getattr(target.value, "attr", "") == "environ"
                ):
                    lines.add(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "pop"
            and getattr(node.func.value, "attr", "") == "environ"
        ):
            lines.add(node.lineno)
    return lines


def test_only_settings_loading_and_entry_points_read_the_environment() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if relative in ALLOWED:
                continue
            tree = ast.parse(path.read_text())
            offenders += [f"{relative}:{n}" for n in _reads(tree) if n not in _writes(tree)]
    assert not offenders, offenders


def test_the_scan_sees_a_read() -> None:
    tree = ast.parse(
        "import os\nx = os.environ.get('A')\nos.environ['B'] = '1'\ny = os.getenv('C')\n"
    )
    assert sorted(_reads(tree)) == [2, 3, 4]
    assert _writes(tree) == {3}
