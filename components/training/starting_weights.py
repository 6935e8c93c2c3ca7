"""Load a run's starting weights on whichever process needs them (the driver, each worker)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from torch import nn


def load_starting_weights(model: nn.Module, init_from: str, tracking_uri: str) -> None:
    """`init_from`: a weights file, or a registered version's runs:/ URI, downloaded here
    into a temporary folder (a worker on another node reads MLflow, not the driver's disk)."""
    from components.model.init_weights import load_initial_weights
    from components.tracking.starting_model import local_weights

    with tempfile.TemporaryDirectory() as tmp:
        load_initial_weights(model, local_weights(init_from, tracking_uri, Path(tmp)))
