"""The committed data.dvc is the default corpus: `make repro` on a clean clone rebuilds it byte
for byte. A build change that moves the default corpus must commit the new data.dvc with it (it
once went stale for three commits: 23b09bb scattered the training shards, data.dvc stayed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.settings import PROJECT_ROOT

pytestmark = pytest.mark.timeout(600)


def _dvc_out(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["outs"][0]


def test_the_default_build_writes_the_committed_data_dvc(workdir_with_sources: Path) -> None:
    workdir = workdir_with_sources
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIP_", "MLFLOW_"))}
    command = [str(Path(sys.executable).parent / "clip-pipeline"), "--workdir", str(workdir)]
    proc = subprocess.run(
        [*command, "--profile", "default", "data", "build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    built, committed = _dvc_out(workdir / "data.dvc"), _dvc_out(PROJECT_ROOT / "data.dvc")
    assert (built["md5"], built["size"], built["nfiles"]) == (
        committed["md5"],
        committed["size"],
        committed["nfiles"],
    ), "the default corpus changed: commit the data.dvc this build wrote"
