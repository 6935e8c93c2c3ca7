"""Rebuild a registered version from its lineage and compare the metrics.

The version's tags name the git commit, the profile and the data version (data.dvc md5). The
commit is checked out into a git worktree of the workdir's repository; the corpus is rebuilt
there (deterministic: the md5 must match) and `dvc repro` runs every stage with that commit's
code and params, against a store of its own (the user's registry is not touched). Then each
recorded metric is compared with the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from components.artifacts import METRICS
from components.errors import UserError
from components.settings import Settings


class ReproduceError(UserError):
    """The version cannot be reproduced as asked (unknown version, commit, failed stage)."""


@dataclass
class Reproduction:
    name: str
    version: str
    commit: str
    profile: str
    checkout: str
    data_md5_registered: str
    data_md5_rebuilt: str
    tolerance: float
    # metric -> [registered, reproduced, |difference|]
    metrics: dict[str, list[float]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.data_md5_registered == self.data_md5_rebuilt and all(
            diff <= self.tolerance for _, _, diff in self.metrics.values()
        )


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode:
        raise ReproduceError(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _child_env(checkout: Path, profile: str, environment: Mapping[str, str]) -> dict[str, str]:
    """The checkout's code first on the path, its own stores (no server, no user workdir)."""
    env = {
        k: v
        for k, v in environment.items()
        if not k.startswith(("MLFLOW_", "CLIP_", "PREFECT_API", "RAY_ADDRESS"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CLIP_PROFILE"] = profile
    return env


def _run(args: list[str], checkout: Path, env: dict[str, str], what: str) -> None:
    print(f"[reproduce] {what}: {' '.join(args)}", flush=True)
    code = subprocess.run(args, cwd=checkout, env=env).returncode
    if code:
        raise ReproduceError(f"{what} failed (exit {code}) in {checkout}; its output is above")


def reproduce(
    settings: Settings,
    name: str,
    version: str,
    tolerance: float = 0.02,
    into: Path | None = None,
    keep: bool = False,
    environment: Mapping[str, str] | None = None,
) -> Reproduction:
    """`environment`: the one the rebuild's commands start from (the caller's process's)."""
    from mlflow.exceptions import MlflowException

    from components.tracking.lineage import dvc_data_hash
    from components.tracking.runs import configure_mlflow

    client = configure_mlflow(settings.tracking)
    try:
        tags = client.get_model_version(name, version).tags
    except MlflowException as err:
        raise ReproduceError(
            f"no version {version} of {name!r} in {settings.tracking_uri}"
        ) from err
    commit, profile = tags.get("git_commit", "unknown"), tags.get("profile")
    if commit == "unknown" or not profile:
        raise ReproduceError(f"{name} v{version} has no recorded git commit and profile")
    repo = Path(_git(settings.paths.workdir, "rev-parse", "--show-toplevel"))
    try:
        _git(repo, "cat-file", "-e", f"{commit}^{{commit}}")
    except ReproduceError as err:
        raise ReproduceError(
            f"{name} v{version} was built from commit {commit[:12]}, which {repo} does not "
            "have: fetch it first"
        ) from err
    if tags.get("git_dirty") == "true":
        print(
            f"[reproduce] note: v{version} was registered from uncommitted changes on {commit[:12]}"
        )

    checkout = (
        Path(into) if into else Path(tempfile.mkdtemp(prefix=f"reproduce-{name}-v{version}-"))
    )
    if checkout.exists() and any(checkout.iterdir()):
        raise ReproduceError(f"{checkout} is not empty")
    if checkout.exists():
        checkout.rmdir()  # git makes the worktree folder itself
    _git(repo, "worktree", "add", "--detach", str(checkout), commit)
    try:
        sources = settings.paths.sources
        if sources.is_dir():  # reuse the downloaded source packages
            (checkout / ".cache").mkdir(exist_ok=True)
            (checkout / ".cache" / "sources").symlink_to(
                sources.resolve(), target_is_directory=True
            )
        env = _child_env(checkout, profile, environment or {})
        _run(["clip-pipeline", "data", "build"], checkout, env, "rebuild the corpus")
        rebuilt = dvc_data_hash(checkout)
        _run([sys.executable, "-m", "dvc", "repro"], checkout, env, "dvc repro")
        new = json.loads(METRICS.path(checkout).read_text())
        result = Reproduction(
            name, str(version), commit, profile, str(checkout),
            tags.get("data_dvc_md5", "untracked"), rebuilt, tolerance,
        )  # fmt: skip
        for key, value in sorted(tags.items()):
            metric = key.removeprefix("metric.")
            if key.startswith("metric.") and metric in new:
                old = float(value)
                result.metrics[metric] = [old, float(new[metric]), abs(old - float(new[metric]))]
        return result
    finally:
        if not keep:
            _git(repo, "worktree", "remove", "--force", str(checkout))
            shutil.rmtree(checkout, ignore_errors=True)
