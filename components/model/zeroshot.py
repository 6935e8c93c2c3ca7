"""Zero-shot classification and retrieval metrics, as in the CLIP paper.

Class embeddings: each prompt template filled with the label, each text embedding normalised,
averaged over templates, renormalised. Logits are cosine similarities at scale 100.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ZERO_SHOT_SCALE = 100.0


@torch.no_grad()
def encode_images(model, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """uint8 [N, 3, S, S] -> normalised features [N, E]."""
    from components.model.preprocess import normalize

    chunks = [
        model.encode_image(normalize(images[i : i + batch_size]))
        for i in range(0, len(images), batch_size)
    ]
    return F.normalize(torch.cat(chunks), dim=-1)


@torch.no_grad()
def encode_texts(model, tokenizer, texts: list[str], batch_size: int) -> torch.Tensor:
    """Texts -> normalised features [N, E] (the token ids go where the model is)."""
    device = next(model.parameters()).device
    chunks = [
        model.encode_text(tokenizer(texts[i : i + batch_size]).to(device))
        for i in range(0, len(texts), batch_size)
    ]
    return F.normalize(torch.cat(chunks), dim=-1)


@torch.no_grad()
def class_embeddings(
    model, tokenizer, labels: list[str], templates: list[str], batch_size: int
) -> torch.Tensor:
    """[C, E]: the prompt ensemble of every label."""
    prompts = [t.format(label) for label in labels for t in templates]
    features = encode_texts(model, tokenizer, prompts, batch_size)  # [C*T, E]
    features = features.view(len(labels), len(templates), -1).mean(dim=1)  # [C, E]
    return F.normalize(features, dim=-1)


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """top-1, top-5 and mean per-class recall of logits [N, C] against targets [N]."""
    n_classes = logits.shape[1]
    top = logits.topk(min(5, n_classes), dim=-1).indices  # [N, 5]
    hits = top == targets[:, None]
    predicted = top[:, 0]
    recalls = [
        (predicted[targets == c] == c).float().mean().item() for c in targets.unique().tolist()
    ]
    return {
        "top1": hits[:, :1].any(dim=1).float().mean().item(),
        "top5": hits.any(dim=1).float().mean().item(),
        "mean_per_class_recall": sum(recalls) / len(recalls),
        "n_classes": float(n_classes),
        "n_samples": float(len(targets)),
        "chance_top1": 1.0 / n_classes,
        "chance_top5": min(5, n_classes) / n_classes,
    }


def retrieval_recall(
    image_features: torch.Tensor, text_features: torch.Tensor, ks=(1, 5, 10)
) -> dict[str, float]:
    """Recall@k both ways for paired rows: image i's caption is text i. Features [N, E]."""
    similarity = image_features @ text_features.T  # [N, N]
    truth = torch.arange(len(similarity))
    metrics = {}
    for direction, scores in (("image_to_text", similarity), ("text_to_image", similarity.T)):
        ranked = scores.argsort(dim=1, descending=True)
        for k in ks:
            hit = (ranked[:, :k] == truth[:, None]).any(dim=1)
            metrics[f"{direction}_r{k}"] = hit.float().mean().item()
    return metrics
