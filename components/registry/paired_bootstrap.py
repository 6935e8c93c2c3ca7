"""The paired bootstrap: is the challenger better than the champion on the same images, or only
luckier? Both are scored per image (1 = a hit); the images are resampled with replacement and
the difference of the two means recomputed each time; the interval is the middle 95% of those
differences. The same recipe with another seed moves top-1 by a factor of two on this corpus,
so a difference of means alone promotes noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class PairedDifference:
    challenger: float  # mean score over the images
    champion: float
    difference: float  # challenger - champion
    low: float  # the interval of the difference, at LEVEL
    high: float
    n_images: int

    def interval(self) -> str:
        return f"[{self.low:+.4f}, {self.high:+.4f}]"


def paired_difference(
    challenger: np.ndarray, champion: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> PairedDifference:
    """`challenger[i]` and `champion[i]` score the same image i; a seeded resampling, so the
    same scores always give the same interval."""
    challenger = np.asarray(challenger, dtype=np.float64)
    champion = np.asarray(champion, dtype=np.float64)
    if challenger.shape != champion.shape or challenger.ndim != 1 or not len(challenger):
        raise ValueError(
            f"paired scores need one value per image for both models, got {challenger.shape} "
            f"and {champion.shape}"
        )
    n = len(challenger)
    per_image = challenger - champion  # [N]
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 256):  # [256, N] indices at a time: memory stays small
        count = min(256, resamples - start)
        picks = rng.integers(0, n, size=(count, n))
        means[start : start + count] = per_image[picks].mean(axis=1)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedDifference(
        float(challenger.mean()), float(champion.mean()), float(per_image.mean()),
        float(low), float(high), n,
    )  # fmt: skip
