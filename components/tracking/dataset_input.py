"""The corpus as an MLflow Dataset input of a run, where MLflow's UI shows it ("Datasets").

Name `clip-corpus`; digest = the data version (data.dvc's md5, 36 characters, the length MLflow
stores), else the manifest's sha256 cut to 32 hex digits for a corpus DVC does not track; source
= where the run read it (a folder, or the s3:// prefix of a corpus on S3). Training reads the
train split, evaluation the held-out and val splits of the same version: two datasets
(`clip-corpus` and `clip-corpus-evaluation`), because MLflow keeps one input per dataset and
run, whatever the context.
"""

from __future__ import annotations

import warnings

from components.settings import Tracking
from components.tracking.lineage import dvc_data_hash

NAME = "clip-corpus"


def corpus_digest(tracking: Tracking, manifest_sha256: str) -> str:
    version = dvc_data_hash(tracking.paths.workdir)
    return version if version != "untracked" else manifest_sha256[:32]


def corpus_dataset(
    tracking: Tracking, corpus_uri: str, manifest_sha256: str, name: str = NAME
):  # -> MetaDataset
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # MLflow warns when several source types could match
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(corpus_uri)
    return MetaDataset(source, name=name, digest=corpus_digest(tracking, manifest_sha256))


def log_corpus_input(
    tracking: Tracking,
    run_id: str,
    corpus_uri: str,
    manifest_sha256: str,
    context: str,
    tags: dict[str, str] | None = None,
) -> None:
    """Record the corpus as run `run_id`'s input in `context` ("training", "evaluation")."""
    import mlflow
    from mlflow.entities import DatasetInput, InputTag

    name = NAME if context == "training" else f"{NAME}-{context}"
    dataset = corpus_dataset(tracking, corpus_uri, manifest_sha256, name)
    input_tags = [InputTag("mlflow.data.context", context)]
    input_tags += [InputTag(key, value) for key, value in (tags or {}).items()]
    mlflow.MlflowClient(tracking.uri).log_inputs(
        run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), input_tags)]
    )
