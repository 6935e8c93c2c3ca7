"""The whole `retrain` flow on the tiny profile, on the embedded defaults (SQLite MLflow,
a temporary Prefect server, local Ray, a local DVC cache)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(900)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    assert version.tags["gate_metric"] == "zeroshot_heldout_twemoji_top1"
    # the version's description is its model card: data version and size, gate value, limits
    card = version.description
    assert f"`{summary['data_version']}`" in card and "**Known limits**" in card
    assert f"= {float(version.tags['gate_value']):.4f}" in card
    samples = json.loads((workdir / "data" / "card.json").read_text())["counts"]["samples"]
    assert f"{samples:,} samples" in card
    assert "zero-shot image classifier" in client.get_registered_model(name).description.lower()
    assert len(version.tags["git_commit"]) in (40, len("unknown"))
    champion = client.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == registration["version"]  # the first model becomes champion
    assert summary["promotion"]["reason"] == "no champion yet"
    assert version.tags["checks_passed"] == "true"
    assert {"check.onnx_parity", "check.data_validation", "check.above_chance"} <= set(version.tags)
    run = client.get_run(registration["run_id"])
    assert run.info.status == "FINISHED"
    # the corpus is the run's Dataset input, for training and for evaluation, digest = version
    inputs = run.inputs.dataset_inputs
    contexts = {t.value for i in inputs for t in i.tags if t.key == "mlflow.data.context"}
    assert contexts == {"training", "evaluation"}
    assert {(i.dataset.name, i.dataset.digest) for i in inputs} == {
        ("clip-corpus", summary["data_version"]),
        ("clip-corpus-evaluation", summary["data_version"]),
    }
    assert str(workdir / "data") in {json.loads(i.dataset.source)["uri"] for i in inputs}
    # both towers are also logged as ONNX-flavour models that load with mlflow.onnx
    import mlflow.onnx

    for tower in ("image_encoder", "text_encoder"):
        loaded = mlflow.onnx.load_model(f"runs:/{registration['run_id']}/{tower}")
        assert loaded.graph.input[0].name in ("images", "tokens")
    assert run.data.metrics["train/loss"] < np.log(settings.train.global_batch_size)

    # zero-shot curves during training: every evaluate.every_steps steps, and at the last one
    steps, every = int(run.data.metrics["train/steps"]), settings.evaluate.every_steps
    curve = client.get_metric_history(run.info.run_id, "zeroshot_probe/top1")
    assert sorted(m.step for m in curve) == sorted({*range(every, steps + 1, every), steps})
    assert len(curve) >= 3
    # the probe follows the gate's split (Twemoji); on the tiny corpus it is smaller than the
    # probe: the probe's last point is the evaluation stage's figure (same weights, images,
    # classes, templates), within one image
    metrics = json.loads((workdir / "artifacts" / "metrics.json").read_text())
    last = max(curve, key=lambda m: m.step).value
    n_images = metrics["zeroshot_heldout_twemoji_n_samples"]
    assert last == pytest.approx(metrics["zeroshot_heldout_twemoji_top1"], abs=1.01 / n_images)


def test_zero_shot_metrics_are_above_chance(retrained):
    workdir, state = retrained
    metrics = json.loads((workdir / "artifacts" / "metrics.json").read_text())
    assert metrics == pytest.approx(state.result()["metrics"])
    # Chance is 1/120 top-1 and 5/120 top-5 on the tiny profile; demand at least twice that,
    # on both held-out styles (OpenMoji and Twemoji, never trained on)
    for style in ("zeroshot_heldout", "zeroshot_heldout_twemoji"):
        assert metrics[f"{style}_top1"] >= 2 * metrics[f"{style}_chance_top1"], style
        assert metrics[f"{style}_top5"] >= 2 * metrics[f"{style}_chance_top5"], style


def test_onnx_towers_decode_and_match_torch(retrained):
    import onnxruntime as ort
    import torch

    from components.data.corpus.reader import read_split
    from components.model.bundle import load_bundle
    from components.model.preprocess import images_to_tensor
    from components.model.zeroshot import encode_images

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
        from components.data.corpus.reader import read_split
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

    from components.data.corpus.reader import read_split
    from components.model.bundle import load_bundle
    from components.model.preprocess import images_to_tensor
    from components.model.templates import resolve_templates
    from components.model.zeroshot import class_embeddings, encode_images

    model, tokenizer = load_bundle(workdir / "artifacts" / "model")
    samples = read_split(workdir / "data", "heldout_style")[:4]
    images = images_to_tensor([s.image_png for s in samples], model.visual.image_size)
    templates = resolve_templates(settings.evaluate.templates)
    classes = class_embeddings(model, tokenizer, served["labels"], templates, 64)
    cosine = encode_images(model, images, 8) @ classes.T
    learned = float(model.logit_scale.detach().exp())  # the temperature the model learned
    probs = np.array(served["probs"])
    np.testing.assert_allclose(probs, torch.softmax(learned * cosine, -1).numpy(), atol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # not the fixed 100 of before, which made nearly every answer p = 1.000
    fixed = torch.softmax(100.0 * cosine, -1).numpy()
    assert np.abs(probs - fixed).max() > 0.05 and 1.0 < learned < 100.0


def _readme_serve_command() -> str:
    """The command the README gives for serving the champion from a fresh clone (the one that
    names the checkout's .venv), exactly as written."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    runnable = [line for line in lines if line.startswith(".venv/bin/") and "serve-model" in line]
    assert len(runnable) == 1, runnable
    return runnable[0]


def _post(url: str, body: dict) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_readme_serve_command_serves_the_champion(retrained):
    """The README's command, run as written from the checkout (its .venv, no activated
    environment: `uvicorn` is not on PATH), answers a real request like the local model, and a
    request whose image does not decode gets a 400 that names the row and the reason."""
    import base64
    import os
    import signal
    import time
    import urllib.error
    import urllib.request

    import mlflow
    import pandas as pd

    from components.data.corpus.reader import read_split
    from components.settings import load_settings
    from infra.local.seaweedfs import free_port

    workdir, _ = retrained
    command = _readme_serve_command()
    if not (PROJECT_ROOT / command.split()[0]).is_file():
        pytest.skip(f"{command.split()[0]} is not in this checkout (the README's command needs it)")
    settings = load_settings("tiny", workdir=workdir)
    port = free_port()
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "uvicorn").exists())  # fmt: skip
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        ["bash", "-c", command],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PATH": path, "CLIP_WORKDIR": str(workdir), "CLIP_PROFILE": "tiny",
             "CLIP_SERVE_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
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
        images = [base64.b64encode(s.image_png).decode() for s in samples]
        body = {"dataframe_split": {"columns": ["image"], "data": [[i] for i in images]},
                "params": {"labels": labels}}  # fmt: skip
        status, answer = _post(f"{base}/invocations", body)
        assert status == 200, answer
        served = pd.DataFrame(answer["predictions"])

        broken = base64.b64encode(b"these are not the bytes of a picture").decode()
        body["dataframe_split"]["data"] = [[images[0]], [broken]]
        status, answer = _post(f"{base}/invocations", body)
        assert status == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE", answer
        assert "row 1: not a PNG, JPEG, WEBP, GIF image" in answer["message"]
        assert "row 0" not in answer["message"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
    assert (
        f"serving clip-zeroshot version 1 (@champion) on http://127.0.0.1:{port}"
        in (workdir / "serve.log").read_text()
    )

    uri = f"models:/{settings.registry.model_name}@champion"
    mlflow.set_tracking_uri(settings.tracking_uri)
    local = mlflow.pyfunc.load_model(uri).predict(
        pd.DataFrame({"image": [s.image_png for s in samples]}), params={"labels": labels}
    )
    assert list(served.columns) == labels
    np.testing.assert_allclose(served.values, local.values, atol=1e-6)
    np.testing.assert_allclose(served.values.sum(axis=1), 1.0, atol=1e-5)


# No import of this project may succeed in the standalone check: a finder that refuses them.
_NO_PROJECT = """
import sys
class _Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("components", "flows", "infra"):
            raise ImportError(f"{name} is this project's: the ONNX folder must stand alone")
sys.meta_path.insert(0, _Refuse())
"""


def test_the_exported_folder_stands_alone(retrained, tmp_path):
    """docs/onnx.md's classifier (onnxruntime + tokenizers, no import of this project) on the
    exported folder gives the registered pyfunc's probabilities."""
    import mlflow
    import pandas as pd

    from components.data.corpus.reader import read_split
    from components.export.standalone import METADATA_KEY
    from components.settings import load_settings

    workdir, _ = retrained
    folder = workdir / "artifacts" / "onnx"
    spec = json.loads((folder / "preprocess.json").read_text())
    import onnx

    stamped = {p.key: p.value for p in onnx.load(str(folder / "image_encoder.onnx")).metadata_props}
    assert json.loads(stamped[METADATA_KEY]) == spec and float(stamped["logit_scale"]) > 1.0
    parity = json.loads((folder / "parity.json").read_text())
    assert parity["tokenizer_mismatches"] == [] and parity["n_prompts_tokenized"] == (
        len(spec["labels"]) * len(spec["templates"])
    )

    samples = read_split(workdir / "data", "heldout_style")[:5]
    for i, sample in enumerate(samples):
        (tmp_path / f"{i}.png").write_bytes(sample.image_png)
    labels = [s.concept for s in samples] + ["a red car"]
    docs = (PROJECT_ROOT / "docs" / "onnx.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", docs, re.S)
    script = (
        _NO_PROJECT
        + code
        + textwrap.dedent(
            f"""
        images = [open(f"{tmp_path}/{{i}}.png", "rb").read() for i in range({len(samples)})]
        probs = classify({str(folder)!r}, images, {labels!r})
        mine = [m for m in sys.modules if m.split(".")[0] in ("components", "flows", "infra")]
        print(json.dumps({{"probs": probs.tolist(), "project_modules": mine}}))
        """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    standalone = json.loads(proc.stdout.strip().splitlines()[-1])
    assert standalone["project_modules"] == []

    settings = load_settings("tiny", workdir=workdir)
    mlflow.set_tracking_uri(settings.tracking_uri)
    served = mlflow.pyfunc.load_model(f"models:/{settings.registry.model_name}@champion").predict(
        pd.DataFrame({"image": [s.image_png for s in samples]}), params={"labels": labels}
    )
    np.testing.assert_allclose(np.array(standalone["probs"]), served.values, atol=1e-5)


def test_a_rerun_on_the_same_data_code_and_params_registers_nothing(retrained):
    """The champion was made from this data version, code and parameters: a retrain ends after
    versioning the data, says so (a Prefect artifact, state Completed) and registers nothing.
    Another data version, or another parameter, is not "unchanged"."""
    import mlflow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from components.registry.unchanged import unchanged_champion
    from components.settings import load_settings
    from components.stages import registry_inputs
    from flows.retrain import retrain

    workdir, first = retrained
    before = first.result()
    version, data_version = before["registration"]["version"], before["data_version"]
    state = retrain(profile="tiny", workdir=str(workdir), return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["unchanged_since"] == version and summary["data_version"] == data_version
    assert "registration" not in summary and "training" not in summary

    settings = load_settings("tiny", workdir=workdir)
    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.registry.model_name
    assert [str(v.version) for v in client.search_model_versions(f"name='{name}'")] == [version]
    with get_client(sync_client=True) as prefect:
        key = ArtifactFilter(key=ArtifactFilterKey(any_=["retrain-skipped"]))
        (artifact,) = prefect.read_artifacts(artifact_filter=key)
    assert artifact.description == f"nothing changed since version {version} of {name}"

    inputs = registry_inputs(settings)
    assert unchanged_champion(inputs, data_version) == version
    assert unchanged_champion(inputs, "0" * 32 + ".dir") is None  # new data
    other = load_settings("tiny", workdir=workdir, overrides={"train": {"lr": 0.5}})
    assert unchanged_champion(registry_inputs(other), data_version) is None  # new params


def test_a_challenger_that_differs_only_by_its_seed_is_not_promoted(retrained):
    """The same data, code and recipe with train.seed 1: both versions are scored again on the
    same held-out images and compared pair by pair; the difference's 95% interval holds the
    margin (0), so the alias stays, and the decision carries both figures, the interval and
    both data versions."""
    import mlflow

    from components.registry.rescore import evaluation_images
    from components.settings import load_settings
    from flows.retrain import retrain

    workdir, first = retrained
    champion = first.result()["registration"]["version"]
    state = retrain(
        profile="tiny", workdir=str(workdir), overrides={"train": {"seed": 1}}, return_state=True
    )
    assert state.is_completed(), state.message
    promotion = state.result()["promotion"]
    challenger = promotion["challenger_version"]
    assert challenger != champion and not promotion["promote"]

    settings = load_settings("tiny", workdir=workdir)
    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.registry.model_name
    assert str(client.get_model_version_by_alias(name, "champion").version) == champion
    tags = client.get_model_version(name, challenger).tags
    low, high = (float(x) for x in tags["promotion_interval"].strip("[]").split(","))
    assert low <= 0.0 <= high
    assert np.allclose((low, high), promotion["interval"], atol=1e-4)  # tagged to 4 places
    images = evaluation_images(settings.paths.data, settings.services.s3,
                               workdir / "artifacts" / "validation", "heldout_twemoji")  # fmt: skip
    assert int(tags["promotion_n_images"]) == len(images.images) > 0
    assert tags["promotion_champion_version"] == champion
    data_version = first.result()["data_version"]
    assert tags["promotion_challenger_data"] == tags["promotion_champion_data"] == data_version
    # rescored by the registered artifacts, the challenger's figure is its evaluated one
    evaluated = float(client.get_model_version(name, challenger).tags["gate_value"])
    assert abs(float(tags["promotion_challenger_value"]) - evaluated) <= 2 / len(images.images)
    assert "not better beyond noise" in tags["promotion_reason"]
    card = client.get_model_version(name, challenger).description
    assert card.startswith("**Gate metric**")  # the registration's card, kept
    assert f"**Promotion** rejected against champion v{champion}" in card
    assert tags["promotion_interval"] in card


def test_the_champion_is_scored_again_on_a_challenger_s_other_evaluation_data(retrained):
    """A challenger evaluated on another corpus version (data.seed 1: other concepts, so other
    held-out images): the champion is scored on the challenger's images, not compared by the
    number it got on its own. The challenger here is the champion's own artifacts registered
    against the new corpus, so both score the same on it, and nothing is promoted."""
    import mlflow

    from components.data.build import build_corpus
    from components.data.corpus.manifest import read_manifest
    from components.data.corpus.versioning import dvc_add_data
    from components.registry.promote import promote
    from components.settings import load_settings
    from components.stages import registry_inputs
    from components.tracking.lineage import manifest_sha256

    workdir, first = retrained
    champion = first.result()["registration"]["version"]
    heldout = {  # the gate's split
        row["id"] for row in read_manifest(workdir / "data").to_pylist()
        if row["split"] == "heldout_twemoji"
    }  # fmt: skip
    settings = load_settings("tiny", workdir=workdir, overrides={"data": {"seed": 1}})
    build_corpus(settings.data, settings.paths.sources, settings.paths.data)
    new_data = dvc_add_data(settings)
    rows = read_manifest(workdir / "data").to_pylist()
    assert {r["id"] for r in rows if r["split"] == "heldout_twemoji"} != heldout

    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    name = settings.registry.model_name
    registered = client.get_model_version(name, champion)
    tags = dict(registered.tags) | {
        "data_manifest_sha256": manifest_sha256(settings.paths.data),
        "data_dvc_md5": new_data,
    }
    tags = {k: v for k, v in tags.items() if not k.startswith("promotion_")}
    challenger = str(client.create_model_version(name, registered.source, tags=tags).version)

    decision = promote(registry_inputs(settings), challenger)
    assert not decision.promote and decision.interval == (0.0, 0.0)
    assert decision.champion_version == champion
    tagged = client.get_model_version(name, challenger).tags
    assert tagged["promotion_challenger_data"] == new_data
    assert tagged["promotion_champion_data"] == first.result()["data_version"] != new_data
    assert tagged["promotion_champion_value"] == tagged["promotion_challenger_value"]
    assert int(tagged["promotion_n_images"]) == sum(r["split"] == "heldout_twemoji" for r in rows)
    assert str(client.get_model_version_by_alias(name, "champion").version) == champion
