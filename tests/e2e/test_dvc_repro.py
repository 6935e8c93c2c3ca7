"""`dvc repro` on a clean copy of the checkout (tiny profile): every stage, then a no-op."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.settings import PROJECT_ROOT

pytestmark = pytest.mark.timeout(900)
STAGES = {"validate", "train", "evaluate", "export", "register"}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, (
        f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory, sources_dir) -> tuple[Path, dict[str, str]]:
    """The files git would check out (tracked + new, not ignored), in a fresh git repo."""
    repo = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["profile"] = "tiny"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (repo / ".cache").mkdir()
    (repo / ".cache" / "sources").symlink_to(sources_dir, target_is_directory=True)

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CLIP_", "PREFECT_API"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    _run(["git", "init", "-q"], repo, env)
    _run([*git, "add", "-A"], repo, env)
    _run([*git, "commit", "-qm", "clean clone"], repo, env)
    return repo, env


def test_dvc_repro_runs_every_stage_then_nothing(clean_clone):
    repo, env = clean_clone
    assert not (repo / "data").exists() and not (repo / "artifacts").exists()
    _run(["clip-pipeline", "data", "build"], repo, env)
    first = _run([sys.executable, "-m", "dvc", "repro"], repo, env)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == STAGES
    metrics = json.loads((repo / "artifacts" / "metrics.json").read_text())
    assert metrics["zeroshot_heldout_top1"] > metrics["zeroshot_heldout_chance_top1"]
    registration = json.loads((repo / "artifacts" / "registration.json").read_text())
    assert registration["registration"]["version"] == "1"
    assert registration["promotion"]["promote"] is True

    second = _run([sys.executable, "-m", "dvc", "repro"], repo, env)
    assert "Running stage" not in second
    status = _run([sys.executable, "-m", "dvc", "status"], repo, env)
    assert "up to date" in status


def test_reproduce_rebuilds_the_registered_version(clean_clone):
    """`clip-pipeline reproduce` checks out the recorded commit, rebuilds the corpus to the same
    data version, runs `dvc repro` and matches the registered metrics (tolerance 0.02)."""
    repo, env = clean_clone
    if not (repo / "artifacts" / "registration.json").is_file():
        pytest.skip("needs the registered version of test_dvc_repro_runs_every_stage_then_nothing")
    out = _run(
        ["clip-pipeline", "reproduce", "clip-zeroshot", "1", "--tolerance", "0.02"], repo, env
    )
    start = out.rindex('{\n  "name"')  # the report is the last JSON object printed
    report = json.loads(out[start : out.index("\n}", start) + 2])
    assert report["passed"] is True
    assert report["data_md5_registered"] == report["data_md5_rebuilt"]
    assert report["profile"] == "tiny" and len(report["commit"]) == 40
    assert {"zeroshot_heldout_top1", "retrieval_val_image_to_text_r1"} <= set(report["metrics"])
    worst = max(diff for _, _, diff in report["metrics"].values())
    print(f"largest metric difference after reproduction: {worst:.2e}")
    assert not Path(report["checkout"]).exists()  # the worktree is removed afterwards
    # the user's registry is untouched: the reproduction registered into its own store
    import mlflow

    store = f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}"
    client = mlflow.MlflowClient(store, registry_uri=store)  # not the process-wide registry
    assert [str(v.version) for v in client.search_model_versions("name='clip-zeroshot'")] == ["1"]
