"""Warm start: the registered model a training run continues from (`model.init_from`).

`champion` (the registry's champion alias), `models:/<name>@<alias>` or `models:/<name>/<version>`
name a registered version; its training run logged the model bundle (`model_bundle/`: weights,
architecture, tokenizer), which is what the run starts from. The reference is resolved once, on
the driver, into the run's own artifact URI (`runs:/<run id>/model_bundle/model.safetensors`):
the workers download that, wherever they run, and a champion that moves during the run changes
nothing. Any other value is a file path (this project's model.safetensors or an OpenAI-style
state dict).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import UserError

CHAMPION = "champion"
BUNDLE = "model_bundle"  # where the train stage logs the bundle in its MLflow run
WEIGHTS, CONFIG, TOKENIZER = "model.safetensors", "config.json", "tokenizer.json"
# the tokenizer.json "type" each model.tokenizer setting saves
_SAVED_TYPE = {"word": "word", "bpe": "clip-bpe", "clip-bpe": "clip-bpe", "wordpiece": "wordpiece"}


class StartingModelError(UserError):
    """The registered model to start from cannot be found, or does not fit this run."""


@dataclass(frozen=True)
class StartingModel:
    name: str
    version: str
    run_id: str
    config: dict[str, Any]  # the version's CLIPConfig, as config.json holds it
    tokenizer: dict[str, Any]  # its tokenizer, as tokenizer.json holds it

    @property
    def weights_uri(self) -> str:
        return f"runs:/{self.run_id}/{BUNDLE}/{WEIGHTS}"

    @property
    def label(self) -> str:
        return f"models:/{self.name}/{self.version}"


def is_registered(init_from: str | None) -> bool:
    return init_from is not None and (init_from == CHAMPION or init_from.startswith("models:/"))


def _version(client, reference: str, model_name: str, alias: str):  # -> ModelVersion
    from mlflow.exceptions import MlflowException

    if reference == CHAMPION:
        name, how, which = model_name, "@", alias
    else:
        rest = reference.removeprefix("models:/")
        name, how, which = (*rest.partition("@"),) if "@" in rest else (*rest.rpartition("/"),)
        if not name or not which or (how == "/" and not which.isdigit()):
            raise StartingModelError(
                f"model.init_from: {reference!r} is not champion, models:/<name>@<alias> or "
                "models:/<name>/<version>"
            )
    try:
        if how == "@":
            return client.get_model_version_by_alias(name, which)
        return client.get_model_version(name, which)
    except MlflowException as err:
        if not _not_found(err):
            raise
        shown = f"{name}@{which}" if how == "@" else f"version {which} of {name}"
        raise StartingModelError(
            f"model.init_from: {reference}: the registry has no {shown}; train from scratch "
            "first (model.init_from: null) or name a registered version"
        ) from None


def _not_found(err: Exception) -> bool:
    text = f"{getattr(err, 'error_code', '')} {err}".lower()
    return any(
        words in text for words in ("resource_does_not_exist", "not found", "does not exist")
    )


def _bundle_json(tracking_uri: str, run_id: str, file: str, label: str) -> dict[str, Any]:
    import mlflow
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=f"{BUNDLE}/{file}", dst_path=tmp,
                tracking_uri=tracking_uri,
            )  # fmt: skip
        except (MlflowException, OSError) as err:
            if not isinstance(err, OSError) and not _not_found(err):
                raise  # the server or its store failing: the caller names which
            raise StartingModelError(
                f"model.init_from: {label} has no {BUNDLE}/{file} in its training run {run_id}: "
                "only versions this pipeline trained and registered can be continued"
            ) from None
        return json.loads(Path(path).read_text())


def find_starting_model(
    reference: str, tracking_uri: str, model_name: str, alias: str
) -> StartingModel:
    """The registered version `reference` names, with its architecture and tokenizer."""
    import mlflow

    version = _version(mlflow.MlflowClient(tracking_uri), reference, model_name, alias)
    label = f"models:/{version.name}/{version.version}"
    if not version.run_id:
        raise StartingModelError(f"model.init_from: {label} was not logged by a run")
    config = _bundle_json(tracking_uri, version.run_id, CONFIG, label)
    tokenizer = _bundle_json(tracking_uri, version.run_id, TOKENIZER, label)
    return StartingModel(version.name, str(version.version), version.run_id, config, tokenizer)


def _differences(theirs: Any, ours: Any, prefix: str = "") -> list[str]:
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for key in sorted(set(theirs) | set(ours)):
            out += _differences(theirs.get(key), ours.get(key), f"{prefix}{key}.")
        return out
    return [] if theirs == ours else [f"{prefix[:-1]} {theirs!r} -> {ours!r}"]


def check_fits(start: StartingModel, config: dict[str, Any], tokenizer_kind: str) -> None:
    """One line when this run's architecture or tokenizer is not the version's: continuing
    pretraining needs every tensor and every token id to mean what they meant."""
    differ = _differences(start.config, config)
    if differ:
        shown = "; ".join(differ[:4]) + ("; ..." if len(differ) > 4 else "")
        raise StartingModelError(
            f"model.init_from: {start.label} has another architecture than model.name asks "
            f"({shown}): warm start needs the same one"
        )
    saved = start.tokenizer.get("type", "word")
    if saved != _SAVED_TYPE[tokenizer_kind]:
        raise StartingModelError(
            f"model.init_from: {start.label} uses a {saved!r} tokenizer, this run "
            f"model.tokenizer {tokenizer_kind!r}: warm start needs the same tokenizer"
        )


def local_weights(init_from: str, tracking_uri: str, into: Path) -> Path:
    """A file path as given; a run's artifact URI downloaded under `into` (any node)."""
    if not init_from.startswith("runs:/"):
        return Path(init_from)
    import mlflow

    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=init_from, dst_path=str(into), tracking_uri=tracking_uri
        )
    )
