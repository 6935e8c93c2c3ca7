"""Zero-shot during training: a fixed subset of a held-out style, scored every few steps.

The driver picks the subset once (`probe_set`): `evaluate.probe_images` samples of the
held-out split the gate metric measures (heldout_twemoji by default), chosen by a seeded
hash of their ids so that they spread over the whole code space (the split's first ids
would be mostly flags), minus the quarantined ones. Every
`evaluate.every_steps` steps rank 0 encodes them and the prompts of their own concepts with
the model as it is (eval mode, no gradients, every module's mode restored after) and logs
`zeroshot_probe/top1` and `top5`: curves in MLflow beside the loss. It is a proxy of the
evaluation stage's metric (fewer images, and only their own concepts as classes: chance is
1 / the subset's concepts, logged as `zeroshot_probe/chance_top1`), cheap enough to run often.
Nothing here draws random numbers or changes a weight, so the run's weights are the same with
or without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict


class ProbeSet(BaseModel):
    """What rank 0 needs: the subset's images (encoded, as stored) and concepts, the templates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every_steps: int
    templates: list[str]
    images: list[bytes]
    concepts: list[str]


def _order(seed: int, sample_id: str) -> str:
    return hashlib.sha256(f"probe/{seed}/{sample_id}".encode()).hexdigest()


def probe_set(
    corpus: Any,  # CorpusLocation
    exclude: Collection[str],
    every_steps: int,
    images: int,
    templates: list[str],
    seed: int,
    split: str = "heldout_style",
) -> ProbeSet | None:
    """The probe's subset of a held-out split (bounded by the held-out package, not by the
    corpus: it is read whole here, once); None when the corpus has no such split."""
    from components.data.corpus.manifest import shard_counts
    from components.data.corpus.reader import read_split

    if not shard_counts(corpus, split):
        return None
    samples = read_split(corpus, split, exclude_ids=exclude)
    chosen = sorted(samples, key=lambda s: _order(seed, s.id))[:images]
    if not chosen:
        return None
    return ProbeSet(
        every_steps=every_steps,
        templates=templates,
        images=[s.image_png for s in chosen],
        concepts=[s.concept for s in chosen],
    )


class ZeroShotProbe:
    """The probe on rank 0: its images decoded once, its prompts tokenised once."""

    def __init__(self, probe: ProbeSet, tokenizer: Any, image_size: int, batch: int = 256):
        import torch

        from components.model.preprocess import images_to_tensor

        self.probe, self.batch = probe, batch
        self.labels = sorted(set(probe.concepts))
        self.targets = torch.tensor([self.labels.index(c) for c in probe.concepts])  # [N]
        self.images = images_to_tensor(probe.images, image_size)  # uint8 [N, 3, S, S]
        self.tokenizer = tokenizer

    def due(self, step: int, total: int) -> bool:
        return step % self.probe.every_steps == 0 or step == total

    def measure(self, model: Any) -> dict[str, float]:
        """{zeroshot_probe/top1, top5, chance_top1} of `model` (an unwrapped CLIP) now."""
        from components.model.zeroshot import (
            ZERO_SHOT_SCALE,
            class_embeddings,
            classification_metrics,
            encode_images,
        )

        modes = {module: module.training for module in model.modules()}
        device = next(model.parameters()).device
        model.eval()
        try:
            features = encode_images(model, self.images.to(device), self.batch)  # [N, E]
            classes = class_embeddings(
                model, self.tokenizer, self.labels, self.probe.templates, self.batch
            )  # [C, E]
            logits = (ZERO_SHOT_SCALE * features @ classes.T).float().cpu()  # [N, C]
        finally:
            for module, training in modes.items():
                module.train(training)
        metrics = classification_metrics(logits, self.targets)
        return {f"zeroshot_probe/{k}": metrics[k] for k in ("top1", "top5", "chance_top1")}
