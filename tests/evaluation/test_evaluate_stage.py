"""The evaluate stage on a corpus with the zero-shot label sets: metrics, probe and figures."""

from __future__ import annotations

import json

import mlflow
import pytest
from PIL import Image

from components.data.build import build_corpus
from components.data.errors import DataSourceError
from components.data.sources import debian_sources
from components.evaluation.stage import PLOTS_DIR
from components.model.bundle import save_bundle
from components.model.clip import create_model
from components.model.tokenizers import build_tokenizer
from components.settings import load_settings
from components.stages import EVALUATE
from components.tracking.runs import configure_mlflow, write_run_file

pytestmark = pytest.mark.timeout(600)
LABEL_SETS = ["fashion-mnist", "flags", "playing-cards"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, sources_dir):
    try:
        debian_sources.check_installed(LABEL_SETS)
    except DataSourceError as err:
        pytest.fail(f"{err}. Run scripts/install_debian_sources.sh (as root) first.")
    workdir = tmp_path_factory.mktemp("evaluate")
    data = {
        "max_concepts": 40, "debian_sources": LABEL_SETS, "label_set_max_per_class": 30,
    }  # fmt: skip
    settings = load_settings("tiny", workdir=workdir, overrides={"data": data})
    build_corpus(settings.data, sources_dir, settings.paths.data)
    # an untrained model: the stage's plumbing, not the model's quality, is under test here
    import torch

    torch.manual_seed(0)
    model = create_model("clip-tiny")
    tokenizer = build_tokenizer("word", ["an emoji of a cat"], model.config.text_cfg)
    save_bundle(model, tokenizer, settings.paths.artifacts / "model")
    configure_mlflow(settings.tracking)
    with mlflow.start_run() as run:
        pass
    write_run_file(settings.paths.artifacts / "train", run.info.run_id)
    return settings, EVALUATE.run(settings), run.info.run_id


def test_every_label_set_is_scored_with_its_own_templates(evaluated):
    settings, metrics, _ = evaluated
    for split in ("zeroshot_fashion_mnist", "zeroshot_flags", "zeroshot_playing_cards"):
        for key in ("top1", "top5", "mean_per_class_recall", "chance_top1", "n_classes"):
            assert f"{split}_{key}" in metrics, (split, key)
        assert 0.0 <= metrics[f"{split}_top1"] <= metrics[f"{split}_top5"] <= 1.0
    assert metrics["zeroshot_fashion_mnist_n_classes"] == 10
    for key in ("image_to_text", "text_to_image"):
        r1, r5, r10 = (metrics[f"retrieval_val_{key}_r{k}"] for k in (1, 5, 10))
        assert 0.0 <= r1 <= r5 <= r10 <= 1.0
    written = json.loads((settings.paths.artifacts / "metrics.json").read_text())
    assert written == pytest.approx(metrics)


def test_each_held_out_style_is_also_scored_flags_apart(evaluated):
    """OpenMoji (heldout_style) and Twemoji (heldout_twemoji, the default gate) both."""
    _, metrics, _ = evaluated
    for style in ("zeroshot_heldout", "zeroshot_heldout_twemoji"):
        parts = {name: metrics[f"{style}_{name}_n_samples"] for name in ("flags", "nonflags")}
        assert parts["flags"] >= 1 and parts["nonflags"] >= 1, style
        assert sum(parts.values()) == metrics[f"{style}_n_samples"]
        for k in ("top1", "top5"):  # the two parts' hits are the whole's
            hits = sum(metrics[f"{style}_{name}_{k}"] * n for name, n in parts.items())
            assert hits == pytest.approx(metrics[f"{style}_{k}"] * sum(parts.values()))


def test_linear_probe_learns_from_frozen_features(evaluated):
    _, metrics, _ = evaluated
    # even an untrained ViT's features separate Fashion-MNIST's 10 classes far above chance
    chance = metrics["zeroshot_fashion_mnist_chance_top1"]
    assert metrics["linear_probe_fashion_mnist_top1"] >= 2 * chance
    assert metrics["linear_probe_fashion_mnist_C"] > 0
    assert metrics["linear_probe_fashion_mnist_n_test"] >= 10


def test_figures_exist_decode_and_reach_mlflow(evaluated):
    settings, _, run_id = evaluated
    plots = settings.paths.artifacts / PLOTS_DIR
    names = {p.name for p in plots.glob("*.png")}
    expected = {
        "heldout_predictions.png",
        "heldout_twemoji_predictions.png",
        "retrieval_examples.png",
        "fashion_mnist_confusion.png",
        "fashion_mnist_per_class_recall.png",
        "playing_cards_confusion.png",
        "flags_per_class_recall.png",
    }
    assert expected <= names, names
    for name in names:
        with Image.open(plots / name) as img:
            img.verify()
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, PLOTS_DIR)}
    assert {f"{PLOTS_DIR}/{name}" for name in names} == logged
