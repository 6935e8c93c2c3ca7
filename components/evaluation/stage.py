"""The evaluate stage, CLIP_benchmark-style.

- zero-shot classification with prompt ensembles: each held-out style (OpenMoji; Twemoji, the
  gate by default) over every concept name, flags and the rest also apart; each zero-shot
  label set the corpus holds (Fashion-MNIST, flags, playing cards; the opt-in Debian sources)
  with its own templates: top-1, top-5, mean per-class recall;
- retrieval recall@1/5/10 both ways on the held-out concepts' caption pairs;
- a linear probe on frozen image features of each label set (C swept on a validation split);
- figures: prediction grid, retrieval examples, and per label set a confusion matrix and
  per-class recall (artifacts/eval_plots: DVC plots and MLflow artifacts).

Writes artifacts/metrics.json (DVC metrics) and logs the same numbers to the MLflow run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from components.artifacts import (
    CORPUS,
    EVALUATION_PLOTS,
    METRICS,
    MODEL,
    TRAINING_RUN,
    VALIDATION,
    require,
)
from components.model.templates import resolve_templates
from components.settings import EvaluateInputs

PLOTS_DIR = Path(EVALUATION_PLOTS.relative).name  # also their folder in the MLflow run
# the corpus split of each zero-shot label set -> its template set in templates.json
LABEL_SETS = {
    "zeroshot_fashion_mnist": "fashion_mnist",
    "zeroshot_flags": "flags",
    "zeroshot_playing_cards": "playing_cards",
}
MAX_CONFUSION_CLASSES = 60  # beyond that a confusion matrix is unreadable


class _Evaluator:
    def __init__(self, cfg: EvaluateInputs, model_dir: Path | None) -> None:
        from components.data.corpus.location import CorpusLocation
        from components.model.bundle import load_bundle
        from components.validation.quarantine import load_quarantined_ids

        self.cfg, workdir = cfg, cfg.paths.workdir
        self.model, self.tokenizer = load_bundle(model_dir or MODEL.path(workdir))
        self.batch = cfg.evaluate.batch_size
        self.exclude = load_quarantined_ids(VALIDATION.path(workdir))
        self.plots = EVALUATION_PLOTS.path(workdir)
        # the corpus, its card read once: its shards may be at its data.output prefix
        self.corpus = CorpusLocation.of(cfg.paths.data, cfg.tracking.services.s3)

    def split(self, name: str):
        from components.data.corpus.reader import read_split

        return read_split(self.corpus, name, exclude_ids=self.exclude)

    def image_features(self, samples) -> torch.Tensor:  # [N, E]
        from components.model.preprocess import images_to_tensor
        from components.model.zeroshot import encode_images

        size = self.model.visual.image_size
        images = images_to_tensor([s.image_png for s in samples], size)
        return encode_images(self.model, images, self.batch)

    def zero_shot(self, samples, templates: list[str]):
        """(labels, targets [N], logits [N, C], image features [N, E])."""
        from components.model.zeroshot import ZERO_SHOT_SCALE, class_embeddings

        labels = sorted({s.concept for s in samples})
        targets = torch.tensor([labels.index(s.concept) for s in samples])
        features = self.image_features(samples)
        classes = class_embeddings(self.model, self.tokenizer, labels, templates, self.batch)
        return labels, targets, ZERO_SHOT_SCALE * features @ classes.T, features


def _heldout_styles(ev: _Evaluator) -> dict[str, float]:
    """Every held-out style the corpus holds (data.heldout_package's, the extra ones)."""
    from components.data.corpus.splits import HELDOUT_SPLITS

    metrics: dict[str, float] = {}
    for split in HELDOUT_SPLITS:
        samples = ev.split(split)
        if samples:
            metrics |= _heldout_style(ev, split, samples)
    return metrics


def _heldout_style(ev: _Evaluator, split: str, samples: list) -> dict[str, float]:
    """A style never trained on, over every concept name of its split; plus a prediction grid."""
    from components.evaluation.plots import prediction_grid_plot
    from components.model.heldout_metrics import metric_prefix
    from components.model.zeroshot import classification_metrics

    labels, targets, logits, _ = ev.zero_shot(samples, resolve_templates(ev.cfg.evaluate.templates))
    metrics = classification_metrics(logits, targets)
    shown = torch.randperm(len(samples), generator=torch.Generator().manual_seed(0))[:16]
    probs = logits.softmax(dim=-1)
    top = probs.topk(min(3, len(labels)), dim=-1)
    prediction_grid_plot(
        [samples[i].image_png for i in shown],
        [samples[i].concept for i in shown],
        [
            [(labels[j], float(p)) for p, j in zip(top.values[i], top.indices[i], strict=True)]
            for i in shown
        ],
        f"zero-shot on the held-out style, {split} ({len(labels)} concept names)",
        ev.plots / f"{split.replace('_style', '')}_predictions.png",
    )
    prefix = metric_prefix(split)
    found = {f"{prefix}_{k}": v for k, v in metrics.items()}
    return found | _flags_apart(prefix, samples, logits, targets)


def _flags_apart(
    prefix: str, samples, logits: torch.Tensor, targets: torch.Tensor
) -> dict[str, float]:
    """Top-1/5 of the flags and of everything else, each among every concept name: flags are
    about an eighth of the emoji and look alike in every style (a coloured rectangle), so a
    model can score on them while learning little else; the split shows which it did."""
    flags = torch.tensor([s.concept.endswith("flag") for s in samples])
    top = logits.topk(min(5, logits.shape[1]), dim=-1).indices  # [N, 5]
    hits = top == targets[:, None]
    found = {}
    for name, chosen in (("flags", flags), ("nonflags", ~flags)):
        if chosen.any():
            key = f"{prefix}_{name}"
            found[f"{key}_top1"] = hits[chosen, :1].any(dim=1).float().mean().item()
            found[f"{key}_top5"] = hits[chosen].any(dim=1).float().mean().item()
            found[f"{key}_n_samples"] = float(chosen.sum())
    return found


def _label_sets(ev: _Evaluator) -> dict[str, float]:
    from components.evaluation.linear_probe import linear_probe
    from components.evaluation.plots import confusion_matrix_plot, per_class_recall_plot
    from components.model.templates import template_sets
    from components.model.zeroshot import classification_metrics

    metrics: dict[str, float] = {}
    for split, template_key in LABEL_SETS.items():
        samples = ev.split(split)
        if not samples:
            continue  # this corpus was built without that source
        labels, targets, logits, features = ev.zero_shot(samples, template_sets()[template_key])
        metrics |= {f"{split}_{k}": v for k, v in classification_metrics(logits, targets).items()}
        predicted = logits.argmax(dim=-1)
        name = split.removeprefix("zeroshot_")
        recall = torch.stack(
            [(predicted[targets == c] == c).float().mean() for c in range(len(labels))]
        )
        per_class_recall_plot(
            recall.nan_to_num(0).numpy(), labels, f"{name}: zero-shot recall per class",
            ev.plots / f"{name}_per_class_recall.png",
        )  # fmt: skip
        if len(labels) <= MAX_CONFUSION_CLASSES:
            confusion_matrix_plot(
                predicted.numpy(), targets.numpy(), labels, f"{name}: zero-shot confusion",
                ev.plots / f"{name}_confusion.png",
            )  # fmt: skip
        try:
            probe = linear_probe(features.numpy(), targets.numpy(), ev.cfg.seed)
        except ValueError:  # too few images per class for a train/val/test split
            continue
        metrics |= {f"linear_probe_{name}_{k}": v for k, v in probe.items()}
    return metrics


def _retrieval(ev: _Evaluator) -> dict[str, float]:
    """Noto images of concepts held out of training, against their first caption."""
    from components.evaluation.plots import retrieval_examples_plot
    from components.model.zeroshot import encode_texts, retrieval_recall

    samples = ev.split("val")
    if len(samples) < 2:
        return {}
    images = ev.image_features(samples)
    texts = encode_texts(ev.model, ev.tokenizer, [s.captions[0] for s in samples], ev.batch)
    ranked = (texts @ images.T).argsort(dim=1, descending=True)[:6, :4]  # [6 captions, top 4]
    retrieval_examples_plot(
        [samples[i].captions[0] for i in range(len(ranked))],
        [[samples[j].image_png for j in row.tolist()] for row in ranked],
        [[j == i for j in row.tolist()] for i, row in enumerate(ranked)],
        ev.plots / "retrieval_examples.png",
    )
    return {f"retrieval_val_{k}": v for k, v in retrieval_recall(images, texts).items()}


def evaluate(
    cfg: EvaluateInputs, model_dir: Path | None = None, log: bool = True
) -> dict[str, float]:
    """Every metric and figure -> artifacts/metrics.json and artifacts/eval_plots; then, with
    `log`, into the training's MLflow run (the flow logs in a step of its own, retried alone)."""
    import shutil

    require(cfg.paths.workdir, CORPUS, *([] if model_dir else [MODEL]))
    torch.manual_seed(0)
    ev = _Evaluator(cfg, model_dir)
    if ev.plots.exists():
        shutil.rmtree(ev.plots)  # only this evaluation's figures
    metrics = _heldout_styles(ev) | _label_sets(ev) | _retrieval(ev)

    path = METRICS.path(cfg.paths.workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    if log:
        log_evaluation(cfg)
    return metrics


def log_evaluation(cfg: EvaluateInputs) -> None:
    """The written metrics (as eval/*) and figures, into the training's MLflow run."""
    import mlflow

    from components.tracking.dataset_input import log_corpus_input
    from components.tracking.lineage import manifest_sha256
    from components.tracking.runs import configure_mlflow, reaching_mlflow, read_run_id

    workdir = cfg.paths.workdir
    require(workdir, METRICS, TRAINING_RUN)
    metrics = json.loads(METRICS.path(workdir).read_text())
    with reaching_mlflow(cfg.tracking, "logging the evaluation"):
        configure_mlflow(cfg.tracking)
        run_id = read_run_id(cfg.tracking)
        now_ms = int(time.time() * 1000)
        client = mlflow.MlflowClient()
        metric = mlflow.entities.Metric
        client.log_batch(
            run_id, metrics=[metric(f"eval/{k}", v, now_ms, 0) for k, v in metrics.items()]
        )
        data = cfg.paths.data
        log_corpus_input(cfg.tracking, run_id, str(data.resolve()), manifest_sha256(data),
                         "evaluation")  # fmt: skip
        client.log_artifacts(run_id, str(EVALUATION_PLOTS.path(workdir)), PLOTS_DIR)
