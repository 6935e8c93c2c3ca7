"""Which image bytes the build has admitted already, in 16 bytes per admitted sample.

A second copy of the same bytes is a duplicate_image, in any source and at any distance. The
build streams its sources, so the check must answer as rows arrive: a key (the first 8 bytes of
the image's sha256, which is also what the sample id holds) and the position of the sample that
holds it, kept in sorted numpy runs merged as they grow (a log-structured set: O(log n) runs,
each looked up with one vectorised searchsorted per window). 10M samples take 160 MB, against
about 700 MB for a Python dict; the full sha256 and the reference of each holder are spilled
to disk (holders.parquet) and read back only for the duplicates found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.data.corpus.parquet_batches import row_group_batches

RUN_ROWS = 65_536  # keys held unsorted before they become a run
SPILL_ROWS = 4_096  # holders buffered before they are written

HOLDERS_SCHEMA = pa.schema(
    [("pos", pa.int64()), ("reference", pa.binary()), ("sha256", pa.string())]
)


def key_of(sha256: str) -> int:
    """The 64-bit key of a sha256 hex digest: its first 16 hex digits, the sample id's code."""
    return int(sha256[:16], 16)


class SeenImages:
    """Keys with the position of their first holder. `first_holder` before `add`: a key added
    in this window is seen by the next lookup too."""

    def __init__(self, scratch: Path) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys [n] u64, pos [n])
        self._pending: dict[int, int] = {}  # key -> pos, not yet in a run
        self._holders_path = scratch / "holders.parquet"
        self._holders = pq.ParquetWriter(self._holders_path, HOLDERS_SCHEMA)
        self._spill: list[dict] = []

    def __len__(self) -> int:
        return len(self._pending) + sum(len(keys) for keys, _ in self._runs)

    def first_holder(self, sha256: str) -> int | None:
        key = key_of(sha256)
        if key in self._pending:
            return self._pending[key]
        probe = np.uint64(key)
        for keys, positions in self._runs:
            at = int(np.searchsorted(keys, probe))
            if at < len(keys) and keys[at] == probe:
                return int(positions[at])
        return None

    def add(self, sha256: str, pos: int, reference: str) -> None:
        self._pending[key_of(sha256)] = pos
        # a reference may hold lone surrogates (a file name that is not UTF-8): kept as they are
        raw = reference.encode("utf-8", "surrogatepass")
        self._spill.append({"pos": pos, "reference": raw, "sha256": sha256})
        if len(self._spill) >= SPILL_ROWS:
            self._write_spill()
        if len(self._pending) >= RUN_ROWS:
            self._seal()

    def _write_spill(self) -> None:
        if self._spill:
            self._holders.write_table(pa.Table.from_pylist(self._spill, schema=HOLDERS_SCHEMA))
            self._spill = []

    def _seal(self) -> None:
        self._write_spill()
        if not self._pending:
            return
        keys = np.fromiter(self._pending.keys(), dtype=np.uint64, count=len(self._pending))
        positions = np.fromiter(self._pending.values(), dtype=np.int64, count=len(keys))
        self._pending = {}
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], positions[order]))
        # merge while the newest run is as large as the one before: O(log n) runs in all
        while len(self._runs) > 1 and len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            (k2, p2), (k1, p1) = self._runs.pop(), self._runs.pop()
            keys, positions = np.concatenate([k1, k2]), np.concatenate([p1, p2])
            order = np.argsort(keys, kind="stable")
            self._runs.append((keys[order], positions[order]))

    def holders(self, positions: set[int]) -> dict[int, tuple[str, str]]:
        """{pos: (reference, sha256)} of the holders at `positions`, read back from the spill."""
        self._seal()
        self._holders.close()
        found: dict[int, tuple[str, str]] = {}
        if not positions:
            return found
        for batch in row_group_batches(pq.ParquetFile(self._holders_path), RUN_ROWS):
            table = batch.to_pydict()
            for pos, reference, sha in zip(
                table["pos"], table["reference"], table["sha256"], strict=True
            ):
                if pos in positions:
                    found[pos] = (reference.decode("utf-8", "surrogatepass"), sha)
        return found

    def close(self) -> None:
        self._holders.close()
