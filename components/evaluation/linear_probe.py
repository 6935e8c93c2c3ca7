"""Linear probe on frozen image features (the CLIP paper's representation test).

Logistic regression on L2-normalised features; the inverse regularisation C is swept on a
validation split, then the probe is refit on train+val and scored once on the test split.
"""

from __future__ import annotations

import numpy as np

C_GRID = tuple(float(c) for c in np.logspace(-2, 3, 6))


def linear_probe(features: np.ndarray, targets: np.ndarray, seed: int = 0) -> dict[str, float]:
    """features [N, E], integer targets [N]: test top-1, the chosen C and the split sizes.

    Classes with fewer than 3 samples cannot appear in all three splits and are left out.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    counts = np.bincount(targets)
    keep = counts[targets] >= 3
    x, y = features[keep], targets[keep]
    if len(np.unique(y)) < 2:
        raise ValueError("a linear probe needs at least 2 classes with 3 or more images each")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed
    )

    def fit(c: float, xs: np.ndarray, ys: np.ndarray):
        return LogisticRegression(C=c, max_iter=2000).fit(xs, ys)

    scores = {c: fit(c, x_train, y_train).score(x_val, y_val) for c in C_GRID}
    best = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    probe = fit(best, x_rest, y_rest)
    return {
        "top1": float(probe.score(x_test, y_test)),
        "val_top1": float(scores[best]),
        "C": best,
        "n_train": float(len(y_rest)),
        "n_test": float(len(y_test)),
    }
