"""The whole `retrain` flow on the tiny profile, on the embedded defaults (SQLite MLflow,
a temporary Prefect server, local Ray, a local DVC cache)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def retrained(prefect_api, tmp_path_factory, sources_dir):
    from flows.retrain import retrain

    workdir = tmp_path_factory.mktemp("retrain")
    (workdir / ".cache").mkdir()
    (workdir / ".cache" / "sources").symlink_to(sources_dir, target_is_directory=True)
    state = retrain(profile="tiny", workdir=str(workdir), return_state=True)
    return workdir, state


def test_flow_completes_and_registers_the_champion(retrained):
    import mlflow

    from components.settings import load_settings

    workdir, state = retrained
    assert state.is_completed(), state.message
    summary = state.result()
    settings = load_settings("tiny", workdir=workdir)
    # this test's stores, whatever an earlier test set process-wide
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.registry.model_name

    registration = summary["registration"]
    version = client.get_model_version(name, registration["version"])
    assert version.run_id == registration["run_id"]
    assert summary["data_version"] != "untracked"
    assert version.tags["data_dvc_md5"] == summary["data_version"]
    assert version.tags["gate_metric"] == "zeroshot_heldout_top1"
    assert len(version.tags["git_commit"]) in (40, len("unknown"))
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == registration["version"]  # the first model becomes champion
    assert summary["promotion"]["reason"] == "no champion yet"
    assert version.tags["checks_passed"] == "true"
    assert {"check.onnx_parity", "check.data_validation", "check.above_chance"} <= set(version.tags)
    run = client.get_run(registration["run_id"])
    assert run.info.status == "FINISHED"
    # both towers are also logged as ONNX-flavour models that load with mlflow.onnx
    import mlflow.onnx

    for tower in ("image_encoder", "text_encoder"):
        loaded = mlflow.onnx.load_model(f"runs:/{registration['run_id']}/{tower}")
        assert loaded.graph.input[0].name in ("images", "tokens")
    assert run.data.metrics["train/loss"] < np.log(settings.train.global_batch_size)


def test_zero_shot_metrics_are_above_chance(retrained):
    workdir, state = retrained
    metrics = json.loads((workdir / "artifacts" / "metrics.json").read_text())
    assert metrics == pytest.approx(state.result()["metrics"])
    # Chance is 1/120 top-1 and 5/120 top-5 on the tiny profile; demand at least twice that.
    assert metrics["zeroshot_heldout_top1"] >= 2 * metrics["zeroshot_heldout_chance_top1"]
    assert metrics["zeroshot_heldout_top5"] >= 2 * metrics["zeroshot_heldout_chance_top5"]


def test_onnx_towers_decode_and_match_torch(retrained):
    import onnxruntime as ort
    import torch

    from components.data.reader import images_to_tensor, read_split
    from components.evaluation.zeroshot import encode_images
    from components.model.bundle import load_bundle

    workdir, _ = retrained
    parity = json.loads((workdir / "artifacts" / "onnx" / "parity.json").read_text())
    assert (
        parity["passed"] and max(parity["image_max_abs_diff"], parity["text_max_abs_diff"]) <= 1e-4
    )

    model, _ = load_bundle(workdir / "artifacts" / "model")
    samples = read_split(workdir / "data", "val")[:5]
    images = images_to_tensor([s.image_png for s in samples], model.visual.image_size)
    want = encode_images(model, images, 8).numpy()
    session = ort.InferenceSession(str(workdir / "artifacts" / "onnx" / "image_encoder.onnx"))
    from components.model.preprocess import normalize

    got = session.run(None, {"images": normalize(images).numpy()})[0]
    assert np.abs(got - want).max() <= 1e-4
    assert torch.from_numpy(got).norm(dim=-1).sub(1).abs().max() < 1e-5


def test_champion_loads_by_alias_in_a_fresh_process(retrained):
    """The registered pyfunc (ONNX), loaded by alias elsewhere, scores like the torch model."""
    workdir, _ = retrained
    from components.settings import load_settings

    settings = load_settings("tiny", workdir=workdir)
    script = textwrap.dedent(
        f"""
        import json, mlflow, pandas as pd
        from components.data.reader import read_split
        mlflow.set_tracking_uri({settings.tracking_uri!r})
        model = mlflow.pyfunc.load_model("models:/{settings.registry.model_name}@champion")
        samples = read_split({str(workdir / "data")!r}, "heldout_style")[:4]
        labels = sorted({{s.concept for s in samples}})
        out = model.predict(pd.DataFrame({{"image": [s.image_png for s in samples]}}),
                            params={{"labels": labels}})
        print(json.dumps({{"labels": list(out.columns), "probs": out.values.tolist()}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])

    import torch

    from components.data.reader import images_to_tensor, read_split
    from components.evaluation.zeroshot import ZERO_SHOT_SCALE, class_embeddings, encode_images
    from components.model.bundle import load_bundle

    model, tokenizer = load_bundle(workdir / "artifacts" / "model")
    samples = read_split(workdir / "data", "heldout_style")[:4]
    images = images_to_tensor([s.image_png for s in samples], model.visual.image_size)
    classes = class_embeddings(model, tokenizer, served["labels"], settings.evaluate.templates, 64)
    logits = ZERO_SHOT_SCALE * encode_images(model, images, 8) @ classes.T
    want = torch.softmax(logits, dim=-1).numpy()
    probs = np.array(served["probs"])
    np.testing.assert_allclose(probs, want, atol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_champion_serves_over_http(retrained):
    """`mlflow models serve` on the champion answers a real JSON request like the local model."""
    import base64
    import os
    import signal
    import time
    import urllib.error
    import urllib.request

    import mlflow
    import pandas as pd

    from components.data.reader import read_split
    from components.settings import load_settings
    from infra.local.seaweedfs import free_port

    workdir, _ = retrained
    settings = load_settings("tiny", workdir=workdir)
    uri = f"models:/{settings.registry.model_name}@champion"
    port = free_port()
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],  # fmt: skip
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            # the scoring server runs `uvicorn` from this environment's bin folder
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (workdir / "serve.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "the scoring server did not come up"
            time.sleep(0.5)

        samples = read_split(workdir / "data", "heldout_style")[:3]
        labels = sorted({s.concept for s in samples}) + ["a red car"]
        body = {
            "dataframe_split": {
                "columns": ["image"],
                "data": [[base64.b64encode(s.image_png).decode()] for s in samples],
            },
            "params": {"labels": labels},
        }
        request = urllib.request.Request(
            f"{base}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            served = pd.DataFrame(json.loads(answer.read())["predictions"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()

    mlflow.set_tracking_uri(settings.tracking_uri)
    local = mlflow.pyfunc.load_model(uri).predict(
        pd.DataFrame({"image": [s.image_png for s in samples]}), params={"labels": labels}
    )
    assert list(served.columns) == labels
    np.testing.assert_allclose(served.values, local.values, atol=1e-6)
    np.testing.assert_allclose(served.values.sum(axis=1), 1.0, atol=1e-5)


def test_rerun_with_unchanged_inputs_skips_the_cached_data_steps(retrained):
    """Issue 7, acceptance 3: the corpus build and the validation come from Prefect's cache
    (task state Cached); the corpus is deleted, the build runs again."""
    import shutil

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.retrain import retrain

    workdir, _ = retrained

    def task_states(state) -> dict[str, str]:
        flow_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=flow_run)
        return {r.name.rsplit("-", 1)[0]: r.state.name for r in runs}

    again = retrain(profile="tiny", workdir=str(workdir), return_state=True)
    assert again.is_completed(), again.message
    states = task_states(again)
    assert states["build-corpus"] == "Cached" and states["validate"] == "Cached", states
    assert states["train"] == "Completed"  # the model steps always run

    shutil.rmtree(workdir / "data")  # an output gone: its step runs again, and what follows
    third = retrain(profile="tiny", workdir=str(workdir), return_state=True)
    assert third.is_completed(), third.message
    states = task_states(third)
    assert states["build-corpus"] == "Completed", states
    assert (workdir / "data" / "card.json").is_file()
