"""The model version's description: a short model card, where MLflow's registry shows it.

What a user deciding whether to serve a version needs on one screen: the data version and its
size, the recipe, the gate metric, and what the model cannot do. The tags keep every figure;
this is their summary, in Markdown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.artifacts import CORPUS

REGISTERED_MODEL = (
    "Zero-shot image classifier: a CLIP image tower and text tower trained from scratch with the "
    "symmetric contrastive loss (Radford et al. 2021) by the clip-pipeline `retrain` flow, "
    "served as a pyfunc (images and label names in, label scores out). Each version's "
    "description is its model card; the alias `champion` is the version in service."
)


def _corpus_card(workdir: Path) -> dict[str, Any]:
    path = CORPUS.path(workdir) / "card.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def model_card(workdir: Path, params: dict[str, Any], tags: dict[str, str], gate: str) -> str:
    """The Markdown card of one version, from the corpus's card, the parameters and the tags."""
    card = _corpus_card(workdir)
    counts = card.get("counts", {})
    by_split = ", ".join(f"{k} {v:,}" for k, v in counts.get("by_split", {}).items())
    sources = ", ".join(f"{k} {v:,}" for k, v in counts.get("by_source", {}).items())
    model, train = params.get("model", {}), params.get("train", {})
    limits = [
        "trained on the corpus above only: emoji artwork styles"
        + (" and the user's own data" if "user" in counts.get("by_source", {}) else "")
        + "; photos, text in images and other domains are untested",
        "zero-shot scores rank label names written as the prompt templates expect; unseen "
        "words in a label weaken it",
    ]
    return "\n".join(
        [
            f"**Gate metric** `{gate}` = {float(tags.get('gate_value', 'nan')):.4f} "
            "(zero-shot on the held-out style, never trained on)",
            "",
            f"**Data** version `{tags.get('data_dvc_md5', 'untracked')}`: "
            f"{counts.get('samples', 0):,} samples ({by_split}); sources: {sources}.",
            "",
            f"**Recipe** profile `{tags.get('profile', '?')}`, model `{model.get('name', '?')}`, "
            f"{train.get('epochs', '?')} epochs, global batch "
            f"{train.get('global_batch_size', '?')}, learning rate {train.get('lr', '?')}, "
            f"seed {train.get('seed', '?')}; "
            + (f"continued from `{tags['init_from']}`; " if tags.get("init_from") else "")
            + f"code `{tags.get('git_commit', 'unknown')[:12]}`.",
            "",
            "**Known limits**",
            *(f"- {limit}" for limit in limits),
        ]
    )


PROMOTION = "\n\n**Promotion**"  # the section a paired decision adds to the card


def with_promotion(description: str, decision: str, paired: Any, champion_version: str) -> str:
    """The card with its promotion section (replacing any earlier one): the challenger against
    the champion on the same images, the difference and its 95% interval."""
    card = (description or "").split(PROMOTION)[0]
    return (
        f"{card}{PROMOTION} {decision} against champion v{champion_version} on the same "
        f"{paired.n_images:,} held-out images: {paired.challenger:.4f} vs {paired.champion:.4f}, "
        f"difference {paired.difference:+.4f}, 95% interval {paired.interval()} "
        "(paired bootstrap)."
    )
