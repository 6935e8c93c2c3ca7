"""The retraining pipeline.

data -> version -> validate -> train -> evaluate -> export -> register -> promote.

Orchestration only: every task calls the same component function the CLI (and so `dvc repro`)
calls. Run it with `clip-pipeline run` or `python -m flows.retrain --profile tiny`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from components.checks.limits import SampleLimits
from components.settings import Settings, apply_quiet_env, load_settings
from flows import user_errors
from flows.failures import report_failure, run_stage, transient
from flows.promote import promote
from infra.local.client_env import use_local_stack

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
COMPONENTS = Path(__file__).resolve().parent.parent / "components"


def _digest(*parts: object) -> str:
    text = json.dumps([str(p) for p in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _code(package: str) -> str:
    """The source of one components package: a code change invalidates its cached step."""
    digest = hashlib.sha256()
    for path in sorted((COMPONENTS / package).rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _corpus_key(context, parameters: dict[str, Any]) -> str:
    """Same data parameters and sample limits (user samples are checked against them), same
    data and checks code, same workdir: the same corpus (the build is deterministic)."""
    settings: Settings = parameters["settings"]
    data = settings.data.model_dump(mode="json")
    limits = settings.validate_.model_dump(mode="json", include=set(SampleLimits.model_fields))
    return "corpus-" + _digest(data, limits, _code("data"), _code("checks"), settings.paths.workdir)


def _validation_key(context, parameters: dict[str, Any]) -> str:
    """The corpus content, the gate's parameters and code, the workdir."""
    from components.tracking.lineage import corpus_checksum

    settings: Settings = parameters["settings"]
    return "validation-" + _digest(
        corpus_checksum(settings.paths.data),
        settings.validate_.model_dump(mode="json"),
        _code("validation"),
        _code("checks"),
        settings.paths.workdir,
    )


@task(name="build-corpus", cache_key_fn=_corpus_key, persist_result=True)
def build_corpus(settings: Settings) -> dict[str, Any]:
    from components.data.stage import build

    return build(settings)


@stage(name="version-data", **remote)
def version_data(settings: Settings) -> str:
    from components.data.corpus.versioning import dvc_add_data

    return dvc_add_data(settings)


@task(name="validate", cache_key_fn=_validation_key, persist_result=True)
def validate(settings: Settings) -> dict[str, Any]:
    from components.validation.stage import validate as validate_stage

    report = validate_stage(settings)
    create_markdown_artifact(
        key="validation-summary", markdown=f"## Validation\n\n{report.summary}\n"
    )
    return {"n_rows": report.n_rows, "n_rejected": report.n_rejected}


@stage(name="train")
def train(settings: Settings, run_name: str | None = None) -> dict[str, Any]:
    from components.training.stage import train as train_stage

    return {k: str(v) for k, v in asdict(train_stage(settings, run_name)).items()}


@stage(name="evaluate")
def evaluate(settings: Settings) -> dict[str, float]:
    from components.evaluation.stage import evaluate as evaluate_stage

    metrics = evaluate_stage(settings, log=False)
    create_table_artifact(
        key="evaluation", table=[{"metric": k, "value": round(v, 4)} for k, v in metrics.items()]
    )
    return metrics


@stage(name="log-evaluation", **remote)  # to MLflow, figures to its artifact store (S3)
def log_evaluation(settings: Settings) -> None:
    from components.evaluation.stage import log_evaluation as log_evaluation_stage

    log_evaluation_stage(settings)


@stage(name="export-onnx")
def export(settings: Settings) -> dict[str, str]:
    from components.export.stage import export as export_stage

    return {k: str(v) for k, v in asdict(export_stage(settings)).items()}


@stage(name="register", **remote)
def register(settings: Settings) -> dict[str, Any]:
    from components.registry.register import register as register_stage

    return asdict(register_stage(settings))


@flow(name="retrain", log_prints=True, on_failure=[report_failure])
def retrain(
    profile: str | None = None,
    workdir: str | None = None,
    overrides: dict[str, Any] | None = None,
    train_run_name: str | None = None,
) -> dict[str, Any]:
    """`overrides`: parameters over params.yaml ({"train": {"epochs": 3}}); `train_run_name`:
    continue that training run from its last checkpoint (a new one when it does not exist)."""
    settings = load_settings(profile, workdir=workdir, overrides=overrides)
    apply_quiet_env()  # a served or deployed run has not come through the CLI
    use_local_stack(settings)  # and finds the stack as the CLI does
    # Cached data steps run again whenever their outputs are gone from the workdir.
    corpus_there = (settings.paths.data / "card.json").is_file()
    card = run_stage(build_corpus.with_options(refresh_cache=not corpus_there), settings)
    data_version = run_stage(version_data, settings)
    report_there = (settings.paths.artifacts / "validation" / "validation.json").is_file()
    validation = run_stage(validate.with_options(refresh_cache=not report_there), settings)
    training = run_stage(train, settings, train_run_name)
    metrics = run_stage(evaluate, settings)
    run_stage(log_evaluation, settings)
    onnx = run_stage(export, settings)
    registration = run_stage(register, settings)
    decision = run_stage(
        promote,
        registration["version"],
        profile=settings.profile,
        workdir=str(settings.paths.workdir),
        overrides=overrides,
    )
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
