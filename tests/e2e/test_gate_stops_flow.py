"""Above the rejection threshold the gate stops the flow: nothing is trained or registered."""

from __future__ import annotations

import csv

import pytest
import yaml

from components.settings import PROJECT_ROOT

pytestmark = pytest.mark.timeout(600)


def test_gate_stops_the_retrain_flow(prefect_api, workdir_with_sources, monkeypatch):
    from flows.retrain import retrain

    # The real default corpus has 47 byte-identical images (flags shared by two territories,
    # families): 1.2% rejected. A 0.5% threshold must stop the pipeline at the gate.
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["profiles"]["strict-gate"] = {
        "data": {"max_concepts": 0},
        "validate": {"max_rejected_fraction": 0.005},
    }
    params_file = workdir_with_sources / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    monkeypatch.setenv("CLIP_PARAMS", str(params_file))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    state = retrain(profile="strict-gate", workdir=str(workdir_with_sources), return_state=True)

    assert state.is_failed()
    # the flow's error names the stage that stopped it, and the gate's reason
    with pytest.raises(Exception, match=r"^stage 'validate' failed: .*rejected.*above the limit"):
        state.result()
    assert "quarantine.csv" in state.message
    artifacts = workdir_with_sources / "artifacts"
    with (artifacts / "validation" / "quarantine.csv").open() as handle:
        reasons = {row["reason"] for row in csv.DictReader(handle)}
    assert reasons == {"duplicate_image"}
    assert not (artifacts / "model").exists() and not (artifacts / "onnx").exists()
    db = workdir_with_sources / "mlruns" / "mlflow.db"
    if db.exists():  # nothing was tracked, let alone registered
        import mlflow

        client = mlflow.MlflowClient(f"sqlite:///{db}")
        assert client.search_registered_models() == []
