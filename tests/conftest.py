"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from components.settings import apply_quiet_env

apply_quiet_env()


@pytest.fixture(scope="session")
def sources_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Unpacked npm source packages, shared by every test of the session.

    CLIP_TEST_SOURCES points it at a lasting folder (the Makefile uses the project's own
    source cache) so later runs skip the download and unpacking.
    """
    if shutil.which("npm") is None:
        pytest.fail("the corpus comes from npm packages: install Node.js/npm to run the suite")
    lasting = os.environ.get("CLIP_TEST_SOURCES")
    if lasting:
        Path(lasting).mkdir(parents=True, exist_ok=True)
        return Path(lasting)
    return tmp_path_factory.mktemp("sources")


@pytest.fixture
def workdir_with_sources(tmp_path: Path, sources_dir: Path) -> Path:
    """A fresh workdir whose source cache is the session's (no second download)."""
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "sources").symlink_to(sources_dir, target_is_directory=True)
    return tmp_path
