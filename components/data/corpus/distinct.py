"""How many distinct strings a stream holds, exactly, in bounded memory.

The card counts distinct concepts per split; a user corpus has about one concept (its caption)
per sample, so a set of them would grow with the corpus. Each string becomes a 64-bit hash,
written to one of BUCKETS files on disk by its top bits; each file is then counted alone with
numpy (8 bytes per hash of one bucket at a time). Below FLUSH_HASHES nothing touches the disk.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

BUCKETS = 256
FLUSH_HASHES = 1 << 16  # hashes buffered before they are appended to the bucket files


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class DistinctCount:
    """Add strings; `count()` says how many different ones (two strings with the same 64-bit
    hash count once: at 10M strings, a chance of about 3 in a million)."""

    def __init__(self, scratch: Path | None = None) -> None:
        self._scratch = scratch
        self._buffer: list[int] = []
        self._folder: tempfile.TemporaryDirectory | None = None

    def add(self, texts: Iterable[str]) -> None:
        self._buffer.extend(map(_hash, texts))
        if len(self._buffer) >= FLUSH_HASHES:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(dir=self._scratch, prefix="distinct-")
        hashes = np.unique(np.array(self._buffer, dtype=np.uint64))
        self._buffer = []
        buckets = (hashes >> np.uint64(56)).astype(np.int64)  # the top 8 bits
        for bucket in np.unique(buckets):
            with open(Path(self._folder.name) / f"{bucket:03d}.u64", "ab") as out:
                hashes[buckets == bucket].tofile(out)

    def count(self) -> int:
        if self._folder is None:
            return len(set(self._buffer))
        self._flush()
        total = 0
        for path in sorted(Path(self._folder.name).glob("*.u64")):
            total += len(np.unique(np.fromfile(path, dtype=np.uint64)))
        return total

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
