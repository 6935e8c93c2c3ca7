"""Score registered versions image by image on the challenger's evaluation data, so that the
champion is judged on the same images as the challenger (its own gate value may come from
another corpus version) and the two can be compared pair by pair.

Each version is scored by its registered artifacts (the ONNX towers, tokenizer and
preprocessing that serving uses), through the project's ZeroShotClassifier, the same code for
both: nothing of the champion's packaged code is imported into this process.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

BATCH = 256  # images scored at a time


@dataclass(frozen=True)
class EvaluationImages:
    """One held-out split's images of the workdir's corpus (the quarantine excluded), their
    concepts, and every concept name of the split as the candidate labels, as the evaluate
    stage scores them."""

    images: list[bytes]
    targets: np.ndarray  # [N] index into labels
    labels: list[str]


def evaluation_images(
    data_dir: Path, s3: Any, validation_dir: Path, split: str
) -> EvaluationImages:
    from components.data.corpus.location import CorpusLocation
    from components.data.corpus.reader import read_split
    from components.validation.quarantine import load_quarantined_ids

    samples = read_split(
        CorpusLocation.of(data_dir, s3), split, exclude_ids=load_quarantined_ids(validation_dir)
    )
    labels = sorted({s.concept for s in samples})
    targets = np.array([labels.index(s.concept) for s in samples], dtype=np.int64)
    return EvaluationImages([s.image_png for s in samples], targets, labels)


def _classifier(model_uri: str, folder: Path):  # -> ZeroShotClassifier, loaded
    import mlflow
    import yaml

    from components.export.pyfunc_model import ZeroShotClassifier

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(folder)))
    spec = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    artifacts = {name: str(local / entry["path"]) for name, entry in spec["artifacts"].items()}
    classifier = ZeroShotClassifier()
    classifier.load_context(SimpleNamespace(artifacts=artifacts))
    return classifier


def version_hits(model_uri: str, data: EvaluationImages, k: int) -> np.ndarray:
    """[N] 1.0 where the version ranks the image's concept in its top k, else 0.0."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="rescore-") as folder:
        classifier = _classifier(model_uri, Path(folder))
        hits = []
        for start in range(0, len(data.images), BATCH):
            frame = pd.DataFrame({"image": data.images[start : start + BATCH]})
            probs = classifier.predict(None, frame, {"labels": data.labels}).to_numpy()  # [B, C]
            target = data.targets[start : start + BATCH]
            # rank of the true concept: how many labels score strictly higher
            higher = (probs > probs[np.arange(len(target)), target][:, None]).sum(axis=1)
            hits.append((higher < k).astype(np.float64))
    return np.concatenate(hits) if hits else np.zeros(0)
