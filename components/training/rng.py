"""Every random-number generator's state as plain tensors, so checkpoints load with
torch.load(weights_only=True): torch (CPU and each CUDA device), Python's `random`, NumPy's global.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng() -> dict[str, torch.Tensor]:
    version, mt, gauss = random.getstate()  # (3, 625 ints, float | None)
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python_mt": torch.tensor(mt, dtype=torch.int64),
        "python_meta": torch.tensor(
            [version, float("nan") if gauss is None else gauss], dtype=torch.float64
        ),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_meta": torch.tensor([np_pos, np_has_gauss, np_gauss], dtype=torch.float64),
    }
    assert np_kind == "MT19937"
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())  # [devices, S]
    return state


def restore_rng(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    version, gauss = state["python_meta"].tolist()
    python_gauss = None if gauss != gauss else gauss  # NaN marks "no cached gaussian"
    random.setstate((int(version), tuple(state["python_mt"].tolist()), python_gauss))
    pos, has_gauss, np_gauss = state["numpy_meta"].tolist()
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, int(pos), int(has_gauss), np_gauss))
    cuda = state.get("cuda")
    # Only onto the same number of devices; a resume on other hardware keeps its fresh seeds.
    if cuda is not None and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(list(cuda))
