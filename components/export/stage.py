"""The export stage: both towers to ONNX, checked against torch on real held-out inputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from components.artifacts import CORPUS, MODEL, ONNX, TRAINING_RUN, require
from components.errors import UserError
from components.settings import ExportInputs, Paths


class ExportParityError(UserError, RuntimeError):
    """The exported model does not compute what the trained model computes."""


@dataclass(frozen=True)
class ExportOutputs:
    onnx_dir: Path
    image_onnx: Path
    text_onnx: Path
    image_max_abs_diff: float
    text_max_abs_diff: float


def heldout_labels(paths: Paths) -> list[str]:
    """The held-out style's concept names, from the manifest (no image is read): the labels the
    served model offers when a request names none."""
    from components.data.corpus.manifest import read_manifest

    index = read_manifest(paths.data, columns=["split", "concept"]).to_pydict()
    pairs = zip(index["split"], index["concept"], strict=True)
    return sorted({concept for split, concept in pairs if split == "heldout_style"})


def export(cfg: ExportInputs, model_dir: Path | None = None) -> ExportOutputs:
    import shutil

    import mlflow

    from components.data.corpus.location import CorpusLocation
    from components.data.corpus.reader import read_split
    from components.export.onnx_export import check_parity, export_towers, write_parity
    from components.export.standalone import preprocess_spec, write_standalone
    from components.model.bundle import load_bundle
    from components.model.preprocess import images_to_tensor, normalize
    from components.model.templates import resolve_templates
    from components.tracking.runs import configure_mlflow, read_run_id

    workdir = cfg.paths.workdir
    require(workdir, CORPUS, TRAINING_RUN, *([] if model_dir else [MODEL]))
    model, tokenizer = load_bundle(model_dir or MODEL.path(workdir))
    onnx_dir = ONNX.path(workdir)
    tmp_dir = onnx_dir.with_name(f".{onnx_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    image_path, text_path = export_towers(
        model, tokenizer.context_length, tmp_dir, cfg.export.opset
    )
    # the folder stands alone: tokenizer.json, preprocess.json, the recipe in the ONNX metadata
    templates = resolve_templates(cfg.templates)
    spec = preprocess_spec(model, tokenizer.context_length, templates, heldout_labels(cfg.paths))
    differ = write_standalone(tmp_dir, spec, tokenizer)

    # Real inputs: held-out images and the prompts zero-shot classification will send.
    samples = read_split(
        CorpusLocation.of(cfg.paths.data, cfg.tracking.services.s3), "heldout_style", limit=64
    )
    images = normalize(images_to_tensor([s.image_png for s in samples], model.visual.image_size))
    prompts = [t.format(s.concept) for s in samples[:16] for t in templates]
    report = check_parity(
        model, image_path, text_path, images, tokenizer(prompts), cfg.export.parity_atol
    )
    n_prompts = len(spec["labels"]) * len(templates)
    report = replace(report, n_prompts_tokenized=n_prompts, tokenizer_mismatches=tuple(differ))
    write_parity(report, tmp_dir)
    if not report.passed:
        raise ExportParityError(
            f"ONNX parity failed: max abs difference image {report.image_max_abs_diff:.2e}, "
            f"text {report.text_max_abs_diff:.2e} (limit {report.atol:.0e}); tokenizer.json "
            f"differs on {len(differ)} of {n_prompts} prompts"
            + (f", e.g. {differ[0]!r}" if differ else "")
            + "; nothing was exported"
        )
    shutil.rmtree(onnx_dir, ignore_errors=True)
    tmp_dir.rename(onnx_dir)  # only a checked export ever appears under artifacts/onnx

    configure_mlflow(cfg.tracking)
    client = mlflow.MlflowClient()
    run_id = read_run_id(cfg.tracking)
    for key, value in (
        ("image_max_abs_diff", report.image_max_abs_diff),
        ("text_max_abs_diff", report.text_max_abs_diff),
    ):
        client.log_metric(run_id, f"export/{key}", value)
    return ExportOutputs(
        onnx_dir,
        onnx_dir / image_path.name,
        onnx_dir / text_path.name,
        report.image_max_abs_diff,
        report.text_max_abs_diff,
    )
