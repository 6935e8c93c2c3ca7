"""MLflow tracking: embedded SQLite by default, a server when MLFLOW_TRACKING_URI says so."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.artifacts import TRAINING_RUN, require
from components.errors import RemoteStoreError
from components.settings import Tracking

RUN_FILE = Path(TRAINING_RUN.relative).name  # run.json


def configure_mlflow(tracking: Tracking):  # -> mlflow.MlflowClient
    """Point MLflow at the tracking store and make sure the experiment exists."""
    import mlflow

    # A new SQLite store announces its schema migration on stderr, line by line: not news.
    for name in ("mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking.uri
    if uri.startswith("sqlite:///"):
        tracking.paths.mlruns.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also exports the URI to the environment. Put the environment back as the user set
    # it: a long-lived process (a served flow, a test session) that runs several workdirs must
    # not take the first workdir's store for "the server the user chose".
    chosen = tracking.services  # what the environment said when the settings were read
    exported = {
        "MLFLOW_TRACKING_URI": chosen.mlflow_tracking_uri,
        "MLFLOW_REGISTRY_URI": chosen.mlflow_registry_uri,
    }
    for key, value in exported.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    client = mlflow.MlflowClient(uri)
    name = tracking.experiment
    if client.get_experiment_by_name(name) is None:
        # Embedded store: artifacts beside the database, not in the current directory.
        location = (
            (tracking.paths.mlruns / "artifacts").as_uri() if uri.startswith("sqlite") else None
        )
        client.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return client


def _short(err: Exception, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + "..."


@contextmanager
def reaching_mlflow(tracking: Tracking, action: str) -> Iterator[None]:
    """Turn a failed request to the MLflow server or its artifact store (S3) into one
    RemoteStoreError naming which one failed while doing `action`; other errors pass through."""
    import requests
    from botocore.exceptions import BotoCoreError, ClientError
    from mlflow.exceptions import MlflowException

    uri = tracking.uri
    try:
        yield
    except (BotoCoreError, ClientError) as err:  # a client writing to S3 itself
        raise RemoteStoreError(f"S3 failed while {action}: {_short(err)}") from err
    except (MlflowException, requests.exceptions.RequestException) as err:
        text = str(err)
        if "mlflow-artifacts" in text:  # the server proxies artifacts to its store: S3 here
            raise RemoteStoreError(
                f"S3, the artifact store behind the MLflow server {uri}, failed while {action} "
                f"(the server answered every upload with an error; its log says why): "
                f"{_short(err)}"
            ) from err
        if "API request to" in text or isinstance(err, requests.exceptions.RequestException):
            raise RemoteStoreError(
                f"the MLflow server {uri} is unreachable or failing while {action}: {_short(err)}"
            ) from err
        raise


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list) else str(value)


def flat_params(tracking: Tracking) -> dict[str, str]:
    out: dict[str, str] = {}
    _flatten("", tracking.params, out)
    return out


def write_run_file(directory: Path, run_id: str, **extra: Any) -> Path:
    """The hand-off between stages run as separate processes (the CLI under `dvc repro`)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RUN_FILE
    path.write_text(json.dumps({"run_id": run_id, **extra}, indent=2, sort_keys=True))
    return path


def read_run_id(tracking: Tracking) -> str:
    require(tracking.paths.workdir, TRAINING_RUN)
    return json.loads(TRAINING_RUN.path(tracking.paths.workdir).read_text())["run_id"]
