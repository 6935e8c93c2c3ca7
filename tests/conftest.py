"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from components.settings import apply_quiet_env

apply_quiet_env()
_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


@pytest.fixture(autouse=True)
def _tracking_uri_of_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI: without this, one test's
    store would leak into the next test's subprocesses (they inherit the environment)."""
    if _TRACKING_URI is None:
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", _TRACKING_URI)


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


@pytest.fixture
def use_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Point the standard AWS variables at one server (a SeaweedS3), and at nothing else."""

    def apply(server) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.endpoint)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(name, raising=False)
        # no ~/.aws files: only the variables above may count
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))

    return apply


_RAY_DAEMONS = ("gcs_server", "raylet")


def _ray_daemons() -> dict[int, str]:
    import psutil

    found = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in _RAY_DAEMONS:
            found[process.pid] = process.info["name"]
    return found


@pytest.fixture(scope="module", autouse=True)
def _no_ray_outlives_its_module(request: pytest.FixtureRequest):
    """A Ray left running by one module is joined by the next one's `ray.init()` (Ray attaches
    to any local cluster it finds), so every module must stop the Ray it started. A leak is
    reported against the module that made it and stopped here (by PID) so it costs no other."""
    import psutil

    before = set(_ray_daemons())
    yield
    deadline = time.monotonic() + 30  # ray.shutdown() returns before its daemons have exited
    while (leaked := {p: n for p, n in _ray_daemons().items() if p not in before}) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    if not leaked:
        return
    for pid in leaked:
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    pytest.fail(f"{request.node.nodeid} left Ray running: {sorted(leaked.items())}")
