"""Write-then-rename helpers: a reader sees the old report or the new one, never half of one."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def temp_dir_beside(path: Path) -> Path:
    """An empty directory on the same filesystem as `path`, so it can be renamed onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))


def replace_dir(built: Path, path: Path) -> None:
    """Swap a fully built directory into place of `path` (directories cannot be os.replace'd
    over a non-empty target, so the old one is moved aside first and deleted after)."""
    old = None
    if path.exists():
        old = temp_dir_beside(path)
        os.replace(path, old / path.name)
    os.replace(built, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_dir(path: Path) -> None:
    """Delete a stale output directory (moved aside first, so it vanishes in one step)."""
    if path.exists():
        aside = temp_dir_beside(path)
        os.replace(path, aside / path.name)
        shutil.rmtree(aside, ignore_errors=True)
