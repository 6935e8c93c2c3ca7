"""Evaluation figures people look at: confusion matrix, per-class recall, predictions on
sample images, retrieval examples. PNG files, logged to MLflow and declared as DVC plots."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _image(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("RGB"))


def confusion_matrix_plot(
    predictions: np.ndarray, targets: np.ndarray, labels: list[str], title: str, path: Path
) -> Path:
    """Rows: true class, columns: predicted, normalised per row."""
    plt = _pyplot()
    n = len(labels)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (targets, predictions), 1)
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    side = max(4.0, 0.28 * n + 2)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def per_class_recall_plot(recall: np.ndarray, labels: list[str], title: str, path: Path) -> Path:
    plt = _pyplot()
    order = np.argsort(recall)
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.22 * len(labels) + 1)))
    ax.barh(range(len(labels)), recall[order], color="#4c72b0")
    ax.set_yticks(range(len(labels)), [labels[i] for i in order], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("recall")
    ax.set_title(title)
    return _save(fig, path)


def prediction_grid_plot(
    pngs: list[bytes],
    truths: list[str],
    top: list[list[tuple[str, float]]],
    title: str,
    path: Path,
    columns: int = 4,
) -> Path:
    """Each image with its true label and its top predictions (green when right)."""
    plt = _pyplot()
    rows = -(-len(pngs) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, png, truth, guesses in zip(axes.flat, pngs, truths, top, strict=False):
        ax.imshow(_image(png))
        lines = [f"true: {truth}"] + [f"{p:.0%} {label}" for label, p in guesses]
        ax.set_title("\n".join(lines), fontsize=7, loc="left",
                     color="green" if guesses and guesses[0][0] == truth else "black")  # fmt: skip
    fig.suptitle(title)
    return _save(fig, path)


def retrieval_examples_plot(
    captions: list[str], retrieved: list[list[bytes]], hits: list[list[bool]], path: Path
) -> Path:
    """Per caption (a row): the top retrieved images, the correct one framed in green."""
    plt = _pyplot()
    k = max(len(r) for r in retrieved)
    fig, axes = plt.subplots(len(captions), k + 1, figsize=(2 * (k + 1), 2 * len(captions)))
    axes = np.atleast_2d(axes)
    for row, (caption, pngs, ok) in enumerate(zip(captions, retrieved, hits, strict=True)):
        axes[row, 0].axis("off")
        axes[row, 0].text(0, 0.5, textwrap.fill(caption, 24), fontsize=8, va="center")
        for col in range(k):
            ax = axes[row, col + 1]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(pngs):
                ax.imshow(_image(pngs[col]))
                for spine in ax.spines.values():
                    spine.set_color("green" if ok[col] else "#cccccc")
                    spine.set_linewidth(3 if ok[col] else 1)
    fig.suptitle("text -> image retrieval on held-out concepts (green: the caption's image)")
    return _save(fig, path)
