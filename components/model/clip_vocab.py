"""The original CLIP BPE vocabulary (49,408 tokens), fetched from the package registry.

It ships inside the `open_clip_torch` wheel (MIT); only that data file is taken (wheel_data).
"""

from __future__ import annotations

from pathlib import Path

from components.model.wheel_data import DEFAULT_CACHE, wheel_data

WHEEL = "open-clip-torch==3.3.0"
WHEEL_SHA256 = "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"


def clip_vocab_path(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Path of bpe_simple_vocab_16e6.txt.gz, downloading the wheel once."""
    return wheel_data(WHEEL, WHEEL_SHA256, MEMBER, cache_dir)
