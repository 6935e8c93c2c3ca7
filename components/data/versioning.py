"""DVC helpers: version the corpus (`dvc add data`) and read its version back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from components.errors import UserError
from components.registry.lineage import dvc_data_hash
from components.settings import Settings


class DvcError(UserError, RuntimeError):
    """A DVC command failed; the message carries DVC's own words."""


def run_dvc(workdir: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=workdir, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise DvcError(
            f"`dvc {' '.join(args)}` failed in {workdir}: {(proc.stderr or proc.stdout).strip()}"
        )
    return proc.stdout


def ensure_dvc_repo(workdir: Path) -> None:
    """The project is a DVC repo already; a scratch workdir (tests) becomes one without git."""
    if not (workdir / ".dvc").is_dir():
        run_dvc(workdir, "init", "--quiet", *([] if (workdir / ".git").exists() else ["--no-scm"]))


def dvc_add_data(settings: Settings) -> str:
    """`dvc add data`: data.dvc then records the corpus's content hash, the dataset version."""
    workdir = settings.paths.workdir
    ensure_dvc_repo(workdir)
    before = dvc_data_hash(workdir)
    run_dvc(workdir, "add", "--quiet", "data")
    after = dvc_data_hash(workdir)
    state = "unchanged" if before == after else f"new (was {before})"
    print(f"[data] data.dvc md5 {after}: {state}", flush=True)
    return after


def configure_s3_remote(
    workdir: Path,
    url: str,
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    name: str = "storage",
) -> None:
    """The default DVC remote on S3. The keys go to .dvc/config.local, which git never sees."""
    ensure_dvc_repo(workdir)
    run_dvc(workdir, "remote", "add", "--default", "--force", name, url)
    run_dvc(workdir, "remote", "modify", name, "endpointurl", endpoint_url)
    run_dvc(workdir, "remote", "modify", "--local", name, "access_key_id", access_key)
    run_dvc(workdir, "remote", "modify", "--local", name, "secret_access_key", secret_key)


def dvc_push(workdir: Path, target: str = "data.dvc") -> None:
    run_dvc(workdir, "push", "--quiet", target)


def dvc_pull(workdir: Path, target: str = "data.dvc") -> None:
    run_dvc(workdir, "pull", "--quiet", target)
