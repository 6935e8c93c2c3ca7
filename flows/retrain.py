"""The retraining pipeline.

data -> version -> validate -> train -> evaluate -> export -> register -> promote.

Orchestration only: every task calls the same component function the CLI (and so `dvc repro`)
calls. Run it with `clip-pipeline run` or `python -m flows.retrain --profile tiny`.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from components.registry.register import Registration, write_registration
from components.settings import Settings
from components.stages import BUILD, EVALUATE, EXPORT, REGISTER, TRAIN, VALIDATE, registry_inputs
from flows import user_errors
from flows.failures import report_failure, run_stage, transient
from flows.promote import promote
from infra.local.client_env import settings_for_run

user_errors.install()

# Settings carry paths on this machine: stages are side effects on the workdir, not cached values.
stage = task(cache_policy=NO_CACHE)
# Steps that talk to S3 or MLflow: retried with growing delays (2, 4, 8 s), jittered, when the
# failure is one of reaching them (a bad parameter is not retried).
remote = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": transient,
}


def _sources_now(settings: Settings) -> dict[str, str] | None:
    """What every source holds now (a CSV that grew, new shards under an S3 prefix), looked at
    once per run: the build's cache key and the build's record of what it read. None when a
    source cannot be seen now (the build then says why)."""
    from components.data.stage import source_fingerprint

    try:
        return source_fingerprint(BUILD.inputs_of(settings))
    except Exception as err:
        logging.getLogger(__name__).warning("the corpus is built again: %s", err)
        return None


def _corpus_key(context, parameters: dict[str, Any]) -> str:
    """The data parameters and code, and the sources' fingerprint: a changed source is built
    again; a source that could not be seen never reuses a cached corpus."""
    sources = parameters["sources"]
    if sources is None:
        return f"build-unseen-{uuid.uuid4().hex}"
    return BUILD.cache_key(parameters["settings"], sources)


def _validation_key(context, parameters: dict[str, Any]) -> str:
    """The corpus content too: a corpus pulled or rebuilt differently is validated again."""
    from components.tracking.lineage import corpus_checksum

    settings: Settings = parameters["settings"]
    return VALIDATE.cache_key(settings, corpus_checksum(settings.paths.data))


@task(name="build-corpus", cache_key_fn=_corpus_key, persist_result=True)
def build_corpus(settings: Settings, sources: dict[str, str] | None) -> dict[str, Any]:
    return BUILD.run(settings, seen=sources)


@stage(name="version-data", **remote)
def version_data(settings: Settings) -> str:
    from components.data.corpus.versioning import dvc_add_data

    return dvc_add_data(settings)


@task(name="validate", cache_key_fn=_validation_key, persist_result=True)
def validate(settings: Settings) -> dict[str, Any]:
    report = VALIDATE.run(settings)
    create_markdown_artifact(
        key="validation-summary", markdown=f"## Validation\n\n{report.summary}\n"
    )
    return {"n_rows": report.n_rows, "n_rejected": report.n_rejected}


@stage(name="check-unchanged", **remote)
def unchanged_since(settings: Settings, data_version: str) -> str | None:
    from components.registry.unchanged import unchanged_champion

    return unchanged_champion(registry_inputs(settings), data_version)


def _nothing_changed(settings: Settings, version: str, data_version: str, card: dict) -> dict:
    """The early end: the champion was made from this very data, code and parameters."""
    name = settings.registry.model_name
    message = f"nothing changed since version {version} of {name}"
    create_markdown_artifact(
        key="retrain-skipped",
        markdown=(
            f"## Retrain skipped: {message}\n\n"
            f"The champion (`@{settings.registry.champion_alias}` = v{version}) was made from the "
            f"same data version (data.dvc md5 `{data_version}`), the same code and the same "
            "parameters, so nothing was trained or registered. Run with `force` "
            "(`clip-pipeline run --force`) to train anyway.\n"
        ),
        description=message,
    )
    get_run_logger().info("%s: data %s; nothing trained or registered", message, data_version)
    return {
        "profile": settings.profile,
        "data_version": data_version,
        "n_samples": card["counts"]["samples"],
        "unchanged_since": version,
        "tracking_uri": settings.tracking_uri,
    }


@stage(name="train")
def train(settings: Settings, run_name: str | None = None) -> dict[str, Any]:
    return {k: str(v) for k, v in asdict(TRAIN.run(settings, run_name)).items()}


@stage(name="evaluate")
def evaluate(settings: Settings) -> dict[str, float]:
    metrics = EVALUATE.run(settings, log=False)
    create_table_artifact(
        key="evaluation", table=[{"metric": k, "value": round(v, 4)} for k, v in metrics.items()]
    )
    return metrics


@stage(name="log-evaluation", **remote)  # to MLflow, figures to its artifact store (S3)
def log_evaluation(settings: Settings) -> None:
    from components.evaluation.stage import log_evaluation as log_evaluation_stage

    log_evaluation_stage(EVALUATE.inputs_of(settings))


@stage(name="export-onnx")
def export(settings: Settings) -> dict[str, str]:
    return {k: str(v) for k, v in asdict(EXPORT.run(settings)).items()}


@stage(name="register", **remote)
def register(settings: Settings) -> dict[str, Any]:
    return asdict(REGISTER.run(settings))


@flow(name="retrain", log_prints=True, on_failure=[report_failure])
def retrain(
    profile: str | None = None,
    workdir: str | None = None,
    overrides: dict[str, Any] | None = None,
    train_run_name: str | None = None,
    settings: Settings | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """`overrides`: parameters over params.yaml ({"train": {"epochs": 3}}); `train_run_name`:
    continue that training run from its last checkpoint (a new one when it does not exist).
    When the champion was made from this data version, code and parameters, the run ends
    after versioning the data ("nothing changed since version N") unless `force`.
    `settings`: what the caller (the CLI) already resolved from them; a served or deployed run
    resolves them here, once, and finds the local stack as the CLI does."""
    settings = settings or settings_for_run(profile, workdir, overrides)
    # Cached data steps run again whenever their outputs are gone from the workdir.
    workdir = settings.paths.workdir
    refresh = not BUILD.outputs_present(workdir)
    sources = _sources_now(settings)
    card = run_stage(build_corpus.with_options(refresh_cache=refresh), settings, sources)
    data_version = run_stage(version_data, settings)
    if not force:
        same = run_stage(unchanged_since, settings, data_version)
        if same is not None:
            return _nothing_changed(settings, same, data_version, card)
    refresh = not VALIDATE.outputs_present(workdir)
    validation = run_stage(validate.with_options(refresh_cache=refresh), settings)
    training = run_stage(train, settings, train_run_name)
    metrics = run_stage(evaluate, settings)
    run_stage(log_evaluation, settings)
    onnx = run_stage(export, settings)
    registration = run_stage(register, settings)
    decision = run_stage(promote, registration["version"], settings=settings)
    write_registration(workdir, Registration(**registration), decision)
    return {
        "profile": settings.profile,
        "data_version": data_version,
        "n_samples": card["counts"]["samples"],
        "validation": validation,
        "training": training,
        "metrics": metrics,
        "onnx": onnx,
        "registration": registration,
        "promotion": asdict(decision),
        "tracking_uri": settings.tracking_uri,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    retrain(args.profile, args.workdir)
