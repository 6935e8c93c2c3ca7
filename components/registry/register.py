"""Log the zero-shot pyfunc model (on the ONNX towers) and register a version with its lineage."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from components.artifacts import (
    CORPUS,
    METRICS,
    MODEL,
    ONNX,
    REGISTRATION,
    TRAINING_RUN,
    require,
)
from components.errors import UserError
from components.settings import PROJECT_ROOT, RegistryInputs

# What the served model needs, pinned to the versions this pipeline runs with.
SERVING_PACKAGES = (
    "mlflow",
    "onnxruntime",
    "numpy",
    "pandas",
    "pillow",
    "ftfy",
    "regex",
    "pydantic",
    "pyyaml",
)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    run_id: str
    model_uri: str
    gate_metric: str
    gate_value: float


def serving_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in SERVING_PACKAGES]


def _released_metrics(workdir: Path, gate: str) -> dict[str, float]:
    """The evaluation's metrics, once the export passed its parity check and the gate metric
    is among them; a UserError otherwise (nothing is logged or registered)."""
    from components.export.onnx_export import PARITY_FILE

    parity = json.loads((ONNX.path(workdir) / PARITY_FILE).read_text())
    if not parity["passed"]:
        raise UserError(
            "the ONNX export failed its parity check: refusing to register it; run "
            "`clip-pipeline export` again and read its message"
        )
    metrics = json.loads(METRICS.path(workdir).read_text())
    if gate not in metrics:
        raise UserError(
            f"gate metric {gate!r} is not in metrics.json (has: {', '.join(sorted(metrics))})"
        )
    return metrics


def _log_model(cfg: RegistryInputs, run_id: str):  # -> mlflow ModelInfo
    """The pyfunc zero-shot classifier (ONNX towers, tokenizer, preprocessing), the ONNX files
    and each tower as an ONNX-flavour model, into the training's MLflow run."""
    import mlflow
    import mlflow.onnx
    import onnx
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.types.schema import ParamSchema, ParamSpec

    from components.data.corpus.location import CorpusLocation
    from components.data.corpus.reader import read_split
    from components.export.onnx_export import IMAGE_ONNX, TEXT_ONNX
    from components.export.pyfunc_model import ZeroShotClassifier
    from components.export.standalone import PREPROCESS_FILE
    from components.model.bundle import TOKENIZER

    workdir = cfg.paths.workdir
    onnx_dir, model_dir = ONNX.path(workdir), MODEL.path(workdir)
    labels = json.loads((onnx_dir / PREPROCESS_FILE).read_text())["labels"]  # the export's
    heldout = read_split(
        CorpusLocation.of(cfg.paths.data, cfg.tracking.services.s3), "heldout_style", limit=2
    )
    example = pd.DataFrame({"image": [heldout[0].image_png, heldout[1].image_png]})
    example_labels = labels[:3]
    signature = infer_signature(
        pd.DataFrame({"image": [b"png bytes"]}),
        pd.DataFrame({label: [0.5] for label in example_labels}),
        params={"labels": example_labels},
    )
    # MLflow fills an omitted param with its default: default to every training concept.
    signature.params = ParamSchema([ParamSpec("labels", "string", labels, shape=(-1,))])
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="zeroshot_model",
            python_model=ZeroShotClassifier(),
            artifacts={
                "image_encoder": str(onnx_dir / IMAGE_ONNX),
                "text_encoder": str(onnx_dir / TEXT_ONNX),
                "tokenizer": str(model_dir / TOKENIZER),
                "preprocess": str(onnx_dir / PREPROCESS_FILE),
            },
            code_paths=[str(PROJECT_ROOT / "components")],
            signature=signature,
            input_example=(example, {"labels": example_labels}),
            pip_requirements=serving_requirements(),
        )
        mlflow.log_artifacts(str(onnx_dir), "onnx")
        # each tower also as an MLflow ONNX-flavour model, for ONNX-native serving tools
        for tower, file in (("image_encoder", IMAGE_ONNX), ("text_encoder", TEXT_ONNX)):
            mlflow.onnx.log_model(onnx.load(str(onnx_dir / file)), name=tower)
        mlflow.log_artifact(str(METRICS.path(workdir)))
    return info


def register(cfg: RegistryInputs) -> Registration:
    """A model version of the exported, evaluated model, with its lineage, gate value and
    release checks as tags, registered last: no version exists without them."""
    import mlflow

    from components.registry.checks import checks_tags, release_checks
    from components.registry.model_card import REGISTERED_MODEL, model_card
    from components.tracking.lineage import lineage_tags
    from components.tracking.runs import configure_mlflow, reaching_mlflow, read_run_id

    workdir, gate, name = cfg.paths.workdir, cfg.gate_metric, cfg.registry.model_name
    require(workdir, ONNX, METRICS, MODEL, TRAINING_RUN, CORPUS)
    metrics = _released_metrics(workdir, gate)
    with reaching_mlflow(cfg.tracking, "logging the model"):
        configure_mlflow(cfg.tracking)
        run_id = read_run_id(cfg.tracking)
        info = _log_model(cfg, run_id)
    tags = {
        **lineage_tags(cfg.tracking),
        "run_id": run_id,
        "gate_metric": gate,
        "gate_value": str(metrics[gate]),
    }
    tags |= {f"metric.{k}": f"{v:.6f}" for k, v in metrics.items()}
    started_from = json.loads(TRAINING_RUN.path(workdir).read_text()).get("init_from")
    if started_from:  # a warm start: the version it continued
        tags["init_from"] = started_from
    tags |= checks_tags(release_checks(workdir, metrics, gate))
    card = model_card(workdir, cfg.tracking.params, tags, gate)
    with reaching_mlflow(cfg.tracking, "registering the model version"):
        version = mlflow.register_model(info.model_uri, name, tags=tags)
        # the card as MLflow users read it: the version's and the model's descriptions
        client = mlflow.MlflowClient(cfg.tracking.uri)
        client.update_model_version(name, version.version, description=card)
        if not client.get_registered_model(name).description:
            client.update_registered_model(name, description=REGISTERED_MODEL)
    return Registration(
        name, str(version.version), run_id, f"models:/{name}/{version.version}", gate,
        float(metrics[gate]),
    )  # fmt: skip


def write_registration(workdir: Path, registration: Registration, promotion: Any = None) -> Path:
    """The register stage's record (artifacts/registration.json): the version, and the
    promotion decision when one was taken. The CLI and the flow both write it, through here."""
    result: dict[str, Any] = {"registration": asdict(registration)}
    if promotion is not None:
        result["promotion"] = asdict(promotion)
    path = REGISTRATION.path(workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    return path
