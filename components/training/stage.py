"""The train stage: tokenizer -> MLflow run -> Ray Train fit -> the model bundle on disk."""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from components.artifacts import (
    CORPUS,
    MODEL,
    TRAINING_HISTORY,
    TRAINING_RUN,
    VALIDATION,
    require,
)
from components.settings import ModelConfig, Tracking, TrainInputs


@dataclass(frozen=True)
class TrainOutputs:
    model_dir: Path
    run_id: str
    history_csv: Path
    steps: int
    final_loss: float
    wall_s: float


def _train_tokenizer(cfg: TrainInputs, corpus, exclude: set[str], templates: tuple[str, ...]):
    """Learned from the training split's captions as the manifest lists them (the shards hold
    the same), and the caption templates filled with its concepts: the driver reads no image
    and no shard."""
    from components.data.corpus.manifest import split_captions, split_concepts
    from components.model.config import load_config
    from components.model.tokenizers import build_tokenizer
    from components.training.ray_ingest import TEMPLATED_SOURCES

    text_cfg = load_config(cfg.model.name).text_cfg
    captions = split_captions(corpus, "train", exclude)
    if templates:  # training shows them filled with concept names: their words must be known
        concepts = split_concepts(corpus, "train", exclude, TEMPLATED_SOURCES)
        captions = itertools.chain(captions, (t.format(c) for c in concepts for t in templates))
    return build_tokenizer(cfg.model.tokenizer, captions, text_cfg, cfg.services.data_cache)


def training_corpus(cfg: TrainInputs):  # -> CorpusLocation
    """Where the workers read: train.corpus (a folder or s3://), else the workdir's data/."""
    from components.data.corpus.location import CorpusLocation

    return CorpusLocation.of(cfg.train.corpus or cfg.paths.data, cfg.services.s3)


def _write_history(history: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def model_config(model: ModelConfig, loss: str):  # -> CLIPConfig
    """The named architecture, with SigLIP's temperature and bias when that loss is chosen
    (components/stages.py checked at load that it fits the tokenizer and the corpus)."""
    from components.model.config import load_config
    from components.training.loss import SIGLIP_INIT_LOGIT_BIAS, SIGLIP_INIT_LOGIT_SCALE

    cfg = load_config(model.name)
    if loss == "siglip" and cfg.init_logit_bias is None:
        update = {
            "init_logit_scale": SIGLIP_INIT_LOGIT_SCALE,
            "init_logit_bias": SIGLIP_INIT_LOGIT_BIAS,
        }
        cfg = cfg.model_copy(update=update)
    return cfg


def _check_corpus_fits(corpus, model_name: str, side: int) -> None:
    """The corpus (built, or pulled, perhaps with another data.image_size than the params say)
    must store images at least as large as the model's input: refused here, before the
    tokenizer is learned or Ray starts, not as a shape error inside the workers."""
    from components.data.corpus.card import stored_side
    from components.settings import ConfigError

    stored = stored_side(corpus)
    if stored is not None and stored < side:
        raise ConfigError(
            f"the corpus at {corpus.uri} stores {stored} px images but model {model_name} "
            f"takes {side} px: rebuild it with --set data.image_size={side} (or more), or "
            "choose a smaller model"
        )


def _open_mlflow_run(
    storage, name: str, spec: dict, tracking: Tracking, corpus_uri: str, started_from: str | None
):
    """Reopen the MLflow run of a run being resumed, or start one and record it with the
    run's spec in its storage folder (before any step, so even a run killed early resumes)."""
    import mlflow

    from components.tracking.dataset_input import log_corpus_input
    from components.tracking.lineage import lineage_tags
    from components.tracking.runs import flat_params
    from components.training.run_spec import ResumeError, check_same_run

    record = storage.read_record(name)
    if record:
        check_same_run(name, record["spec"], spec)
        run_id = record["mlflow_run_id"]
        try:
            mlflow.MlflowClient(tracking.uri).get_run(run_id)
        except mlflow.exceptions.MlflowException as err:
            raise ResumeError(
                f"run {name!r} logs to MLflow run {run_id}, which {tracking.uri} "
                "does not have: point MLFLOW_TRACKING_URI at the server it was started on"
            ) from err
        print(f"[train] continuing {name} (MLflow run {run_id}) from {storage.run_uri(name)}")
        return mlflow.start_run(run_id=run_id), True
    run = mlflow.start_run(run_name=name)
    mlflow.set_tags(
        {
            **lineage_tags(tracking),
            # what the workers read: the manifest's hash (wherever it lives) and its location
            "data_manifest_sha256": spec["corpus"],
            "clip.train_corpus": corpus_uri,
            "stage": "train",
            "clip.train_run": name,
            "clip.train_storage": storage.run_uri(name),
        }
    )
    mlflow.log_params(flat_params(tracking))
    if started_from:
        mlflow.set_tag("clip.init_from", started_from)
    log_corpus_input(tracking, run.info.run_id, corpus_uri, spec["corpus"], "training")
    record = {"run_name": name, "mlflow_run_id": run.info.run_id, "spec": spec}
    storage.write_record(name, {**record, "tracking_uri": tracking.uri})
    print(f"[train] run {name} (MLflow run {run.info.run_id}) in {storage.run_uri(name)}")
    return run, False


def starting_model(cfg: TrainInputs):  # -> StartingModel | None
    """The registered version model.init_from names (warm start), found before any work;
    None for a run from scratch or from a weights file."""
    from components.tracking.runs import reaching_mlflow
    from components.tracking.starting_model import find_starting_model, is_registered

    if not is_registered(cfg.model.init_from):
        return None
    with reaching_mlflow(cfg.tracking, f"finding model.init_from {cfg.model.init_from}"):
        return find_starting_model(
            cfg.model.init_from, cfg.tracking.uri, cfg.registered_model, cfg.champion_alias
        )


def build_loop_config(cfg: TrainInputs):  # -> (LoopConfig, CLIP, tokenizer)
    """What every worker needs: the train section, the architecture, the tokenizer (learned
    here, once, or the starting version's), the corpus and the quarantined ids. Fails before
    any worker starts."""
    from components.data.corpus.manifest import shard_index
    from components.model.clip import create_model
    from components.model.templates import resolve_templates
    from components.model.tokenizers import tokenizer_from_dict
    from components.tracking.starting_model import check_fits
    from components.training.loop_config import LoopConfig
    from components.training.starting_weights import load_starting_weights
    from components.training.zeroshot_probe import probe_set
    from components.validation.quarantine import load_quarantined_ids

    architecture = model_config(cfg.model, cfg.train.loss)
    corpus = training_corpus(cfg)
    _check_corpus_fits(corpus, cfg.model.name, architecture.vision_cfg.image_size)
    exclude = load_quarantined_ids(VALIDATION.path(cfg.paths.workdir))
    templates = cfg.train.caption_templates
    caption_templates = tuple(resolve_templates(templates)) if templates else ()
    model = create_model(architecture, cfg.services.data_cache)
    start = starting_model(cfg)
    if start:  # continue its pretraining: its tensors, its token ids
        check_fits(start, model.config.model_dump(mode="json"), cfg.model.tokenizer)
        tokenizer = tokenizer_from_dict(start.tokenizer)
        print(f"[train] warm start from {start.label} (run {start.run_id})")
    else:
        tokenizer = _train_tokenizer(cfg, corpus, exclude, caption_templates)
    init_from = start.weights_uri if start else cfg.model.init_from
    if init_from:  # fail here, before any worker starts, if it does not fit
        load_starting_weights(model, init_from, cfg.tracking.uri)
    probe = None
    if cfg.probe.every_steps:
        templates = resolve_templates(cfg.probe.templates)
        probe = probe_set(corpus, exclude, cfg.probe.every_steps, cfg.probe.images, templates,
                          cfg.train.seed, cfg.probe.split)  # fmt: skip
    loop = LoopConfig(
        train=cfg.train,
        model=model.config,
        tokenizer=tokenizer.to_dict(),
        corpus=corpus,
        shards=shard_index(corpus, "train", exclude),
        init_from=init_from,
        started_from=start.label if start else init_from,
        data_cache=cfg.services.data_cache,
        tracking_uri=cfg.tracking.uri,
        probe=probe,
        caption_templates=caption_templates,
    )
    loop.stream_plan(cfg.train.num_workers)  # too few samples for one batch: said here
    return loop, model, tokenizer


def train(cfg: TrainInputs, run_name: str | None = None) -> TrainOutputs:
    """Train under `run_name` (default: a new name). A name whose storage folder already holds
    the run continues it from its last checkpoint, in the same MLflow run."""
    import mlflow
    from safetensors.torch import load_file

    from components.model.bundle import save_bundle
    from components.tracking.lineage import manifest_sha256
    from components.tracking.runs import configure_mlflow, reaching_mlflow, write_run_file
    from components.training.checkpoint import HISTORY, WEIGHTS
    from components.training.ray_trainer import fit, ray_session
    from components.training.run_spec import check_run_name, new_run_name, run_spec
    from components.training.storage import resolve_storage

    workdir = cfg.paths.workdir
    if cfg.train.corpus is None:
        require(workdir, CORPUS)
    started = time.perf_counter()
    name = check_run_name(run_name) if run_name else new_run_name(cfg.tracking.profile)
    storage = resolve_storage(cfg.checkpoint_storage, cfg.paths.artifacts, workdir, cfg.services.s3)
    loop, model, tokenizer = build_loop_config(cfg)
    spec = run_spec(loop, manifest_sha256(loop.corpus))

    configure_mlflow(cfg.tracking)
    run, resumed = _open_mlflow_run(
        storage, name, spec, cfg.tracking, loop.corpus.uri, loop.started_from
    )
    with run:
        run_id = run.info.run_id
        if not resumed:
            mlflow.log_param("model.parameters", sum(p.numel() for p in model.parameters()))
        try:
            with ray_session(cfg.train, cfg.services):
                result = fit(loop.model_copy(update={"mlflow_run_id": run_id}), storage, name)
        except KeyboardInterrupt:
            print(f"\n[train] stopped; continue it with: clip-pipeline train --run-name {name}")
            raise
        if result.error or result.checkpoint is None:
            raise RuntimeError(
                f"training run {name} failed: {result.error or 'no checkpoint was reported'}. "
                f"Continue it from its last checkpoint with: clip-pipeline train --run-name {name}"
            )
        with result.checkpoint.as_directory() as ckpt:
            model.load_state_dict(load_file(str(Path(ckpt) / WEIGHTS)), strict=True)
            history = json.loads((Path(ckpt) / HISTORY).read_text())

        model_dir = MODEL.path(workdir)
        if model_dir.exists():
            shutil.rmtree(model_dir)
        save_bundle(model, tokenizer, model_dir)
        history_csv = TRAINING_HISTORY.path(workdir)
        _write_history(history, history_csv)
        wall = time.perf_counter() - started
        mlflow.log_metrics({"train/wall_s": wall, "train/steps": len(history)})
        with reaching_mlflow(cfg.tracking, "logging the trained model bundle"):
            mlflow.log_artifacts(str(model_dir), "model_bundle")
        write_run_file(
            TRAINING_RUN.path(workdir).parent,
            run_id,
            steps=len(history),
            final_loss=history[-1]["loss"],
            run_name=name,
            init_from=loop.started_from,
            storage=storage.run_uri(name),
            checkpoint=result.checkpoint.path,
        )
    return TrainOutputs(model_dir, run_id, history_csv, len(history), history[-1]["loss"], wall)
