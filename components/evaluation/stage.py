"""The evaluate stage: zero-shot on the held-out style, retrieval on held-out concepts.

Writes artifacts/metrics.json (DVC metrics) and logs the same numbers to the MLflow run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from components.settings import Settings

METRICS_FILE = "metrics.json"


def evaluate(settings: Settings, model_dir: Path | None = None) -> dict[str, float]:
    import mlflow
    import torch

    from components.data.reader import images_to_tensor, read_split
    from components.evaluation.zeroshot import (
        ZERO_SHOT_SCALE,
        class_embeddings,
        classification_metrics,
        encode_images,
        encode_texts,
        retrieval_recall,
    )
    from components.model.bundle import load_bundle
    from components.registry.tracking import configure_mlflow, read_run_id
    from components.validation.quarantine import load_quarantined_ids

    torch.manual_seed(0)
    out = settings.paths.artifacts
    model, tokenizer = load_bundle(model_dir or out / "model")
    size, batch = model.visual.image_size, settings.evaluate.batch_size
    exclude = load_quarantined_ids(out / "validation")
    metrics: dict[str, float] = {}

    # Zero-shot: the OpenMoji style, never trained on, over every concept name.
    heldout = read_split(settings.paths.data, "heldout_style", exclude_ids=exclude)
    labels = sorted({s.concept for s in heldout})
    targets = torch.tensor([labels.index(s.concept) for s in heldout])
    image_features = encode_images(
        model, images_to_tensor([s.image_png for s in heldout], size), batch
    )
    classes = class_embeddings(model, tokenizer, labels, settings.evaluate.templates, batch)
    logits = ZERO_SHOT_SCALE * image_features @ classes.T  # [N, C]
    metrics |= {
        f"zeroshot_heldout_{k}": v for k, v in classification_metrics(logits, targets).items()
    }

    # Retrieval: Noto images of concepts held out of training, against their first caption.
    val = read_split(settings.paths.data, "val", exclude_ids=exclude)
    if len(val) >= 2:
        image_features = encode_images(
            model, images_to_tensor([s.image_png for s in val], size), batch
        )
        text_features = encode_texts(model, tokenizer, [s.captions[0] for s in val], batch)
        metrics |= {
            f"retrieval_val_{k}": v
            for k, v in retrieval_recall(image_features, text_features).items()
        }

    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    configure_mlflow(settings)
    now_ms = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(
        read_run_id(settings),
        metrics=[mlflow.entities.Metric(f"eval/{k}", v, now_ms, 0) for k, v in metrics.items()],
    )
    return metrics
