"""The package graph keeps its floors: `lint-imports` checks the contracts in pyproject.toml
(the CLI above flows/ above infra/ above components/; no Prefect in components/; inside
components/, the stage contract on top and tracking, settings, checks low; inside settings/,
loading on top and the sections at the bottom; inside data/, the build above the sources above
the corpus)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from components.settings import PROJECT_ROOT


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout and "5 kept" in proc.stdout, proc.stdout
