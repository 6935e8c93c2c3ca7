"""Acceptance 1 of issue 5: a deterministic run killed mid-epoch and started again ends with the
weights of an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from safetensors.torch import load_file

from tests.distributed.conftest import TRAIN, TrainProcess, latest_checkpoint_step, wait_for

pytestmark = pytest.mark.timeout(600)
STEPS_PER_EPOCH = 6  # the tiny corpus's training split over a global batch of 16


def _final_weights(workdir: Path):
    run = json.loads((workdir / "artifacts" / "train" / "run.json").read_text())
    return run, load_file(str(Path(run["checkpoint"]) / "model.safetensors"))


def _runs_named(workdir: Path, name: str):
    client = mlflow.MlflowClient(f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}")
    return client, client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`clip.train_run` = '{name}'",
    )


def test_killed_run_resumes_to_the_uninterrupted_weights(train_workdir: Path):
    total = TRAIN["epochs"] * STEPS_PER_EPOCH
    run_dir = train_workdir / "artifacts" / "ray" / "interrupted"

    first = TrainProcess(train_workdir, "interrupted", deterministic=True)
    killed_at = wait_for(lambda: latest_checkpoint_step(run_dir), 240, "a first checkpoint")
    first.kill()
    assert killed_at < total, "the run ended before it could be killed"
    assert killed_at % STEPS_PER_EPOCH, "the checkpoint should fall mid-epoch"

    again = TrainProcess(train_workdir, "interrupted", deterministic=True)
    assert again.wait(300) == 0, again.output()
    out = again.output()
    assert "continuing interrupted" in out
    assert f"resumed at step {killed_at}/{total}" in out, out
    resumed_run, resumed = _final_weights(train_workdir)
    assert resumed_run["steps"] == total

    client, runs = _runs_named(train_workdir, "interrupted")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one MLflow run, reopened
    resumed_from = client.get_metric_history(runs[0].info.run_id, "train/resumed_from_step")
    assert [m.value for m in resumed_from] == [killed_at]

    straight = TrainProcess(train_workdir, "uninterrupted", deterministic=True)
    assert straight.wait(300) == 0, straight.output()
    _, reference = _final_weights(train_workdir)

    assert resumed.keys() == reference.keys()
    worst = max(float((resumed[k] - reference[k]).abs().max()) for k in reference)
    print(f"max |resumed - uninterrupted| over {len(reference)} tensors: {worst:.3e}")
    assert worst <= 1e-6
