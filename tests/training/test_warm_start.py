"""Warm start (`model.init_from: champion`): a registered version's weights and tokenizer, found
through a real (SQLite) MLflow registry, or one clear line when they cannot serve this run."""

from __future__ import annotations

import pytest
import torch

from components.model.bundle import save_bundle
from components.model.clip import create_model
from components.model.tokenizer import WordTokenizer
from components.settings import load_settings
from components.stages import TRAIN
from components.tracking.runs import configure_mlflow
from components.tracking.starting_model import StartingModelError, check_fits
from components.training.stage import model_config, starting_model
from components.training.starting_weights import load_starting_weights

CAPTIONS = ["a red apple", "a grinning face", "a blue whale", "a red heart"]


def _inputs(workdir, **model):
    settings = load_settings("tiny", workdir=workdir, overrides={"model": model} if model else {})
    return settings, TRAIN.inputs_of(settings)


@pytest.fixture
def registered(tmp_path, monkeypatch):
    """Version 1 of the tiny profile's model, trained weights made distinct from any fresh
    initialisation, logged as the train stage logs them and promoted to champion."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings, cfg = _inputs(tmp_path)
    client = configure_mlflow(settings.tracking)
    torch.manual_seed(7)
    model = create_model(model_config(cfg.model, cfg.train.loss), cfg.services.data_cache)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.add_(torch.randn_like(tensor))
    text_cfg = model.config.text_cfg
    tokenizer = WordTokenizer.train(CAPTIONS, text_cfg.vocab_size, text_cfg.context_length)
    bundle = save_bundle(model, tokenizer, tmp_path / "bundle")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(bundle), "model_bundle")
    name = settings.registry.model_name
    client.create_registered_model(name)
    source = f"{run.info.artifact_uri}/model_bundle"
    version = client.create_model_version(name, source, run_id=run.info.run_id)
    client.set_registered_model_alias(name, settings.registry.champion_alias, version.version)
    return tmp_path, model, tokenizer, run.info.run_id


def test_champion_resolves_to_its_run_weights_and_tokenizer(registered):
    workdir, trained, tokenizer, run_id = registered
    settings, cfg = _inputs(workdir, init_from="champion")
    start = starting_model(cfg)
    assert (start.version, start.run_id) == ("1", run_id)
    assert start.label == f"models:/{settings.registry.model_name}/1"
    assert start.weights_uri == f"runs:/{run_id}/model_bundle/model.safetensors"
    assert start.tokenizer == tokenizer.to_dict()

    fresh = create_model(model_config(cfg.model, cfg.train.loss), cfg.services.data_cache)
    check_fits(start, fresh.config.model_dump(mode="json"), cfg.model.tokenizer)
    before = fresh.state_dict()
    assert not any(torch.equal(before[key], t) for key, t in trained.state_dict().items())
    # what every Ray worker runs with the LoopConfig's init_from: a download from MLflow
    load_starting_weights(fresh, start.weights_uri, cfg.tracking.uri)
    for key, tensor in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor), key

    by_number = starting_model(_inputs(workdir, init_from=start.label)[1])
    by_alias = starting_model(_inputs(workdir, init_from=f"models:/{start.name}@champion")[1])
    assert by_number == by_alias == start


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "clip-small"}, "another architecture than model.name asks (embed_dim"),
        ({"tokenizer": "bpe"}, "uses a 'word' tokenizer, this run model.tokenizer 'bpe'"),
    ],
)
def test_another_architecture_or_tokenizer_is_refused_in_one_line(registered, overrides, expected):
    workdir = registered[0]
    _, cfg = _inputs(workdir, init_from="champion", **overrides)
    start = starting_model(cfg)
    ours = create_model(model_config(cfg.model, cfg.train.loss), cfg.services.data_cache)
    with pytest.raises(StartingModelError) as err:
        check_fits(start, ours.config.model_dump(mode="json"), cfg.model.tokenizer)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("init_from", "expected"),
    [
        ("models:/clip-zeroshot/9", "the registry has no version 9 of clip-zeroshot"),
        ("models:/clip-zeroshot@staging", "the registry has no clip-zeroshot@staging"),
        ("models:/clip-zeroshot/latest", "is not champion, models:/<name>@<alias> or"),
        ("models:/", "is not champion"),
    ],
)
def test_a_version_that_is_not_there_is_one_line(registered, init_from, expected):
    workdir = registered[0]
    with pytest.raises(StartingModelError) as err:
        starting_model(_inputs(workdir, init_from=init_from)[1])
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_no_champion_yet_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings, cfg = _inputs(tmp_path, init_from="champion")
    configure_mlflow(settings.tracking)
    with pytest.raises(StartingModelError, match=r"the registry has no .*@champion; train from"):
        starting_model(cfg)


def test_a_weights_file_is_not_looked_up(tmp_path):
    assert starting_model(_inputs(tmp_path, init_from=str(tmp_path / "w.safetensors"))[1]) is None


def test_a_version_not_trained_by_the_pipeline_is_one_line(registered):
    """A version whose run never logged a model bundle (registered by hand, from elsewhere)."""
    import mlflow

    workdir = registered[0]
    settings, cfg = _inputs(workdir, init_from="models:/clip-zeroshot/2")
    client = mlflow.MlflowClient(cfg.tracking.uri)
    with mlflow.start_run() as run:
        mlflow.log_param("made", "elsewhere")
    client.create_model_version("clip-zeroshot", run.info.artifact_uri, run_id=run.info.run_id)
    with pytest.raises(StartingModelError) as err:
        starting_model(cfg)
    assert "has no model_bundle/config.json in its training run" in str(err.value)
    assert "\n" not in str(err.value)
