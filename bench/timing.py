"""Helpers shared by the benchmarks: synchronised step timing and peak-memory readings."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_step_s(step: Callable[[], object], device, steps: int, warmup: int) -> float:
    """Median wall time of `step` after `warmup` untimed calls (GPU work waited for)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# dense bf16 tensor-core peaks (no sparsity), from the vendors' data sheets, FLOP/s
BF16_PEAK = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}


def bf16_peak_flops(device_name: str) -> float | None:
    for key in sorted(BF16_PEAK, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if key in device_name:
            return BF16_PEAK[key]
    return None
