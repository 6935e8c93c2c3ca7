"""The user-data ingest of the build at N and 16N rows, in one process run: time per row and the
memory it holds (Python allocations, tracemalloc peak), printed as ratios.

    .venv/bin/python bench/user_ingest.py [--rows 200] [--side 64] [--bad-every 10]

Each table row is a distinct noise PNG of side x side pixels in the table's folder; every
`bad-every`-th row is broken in a rotating way (missing, outside the folder, truncated), so the
confinement, the source checks and the rejections all run. A ratio of 16 for memory would mean the
ingest holds every admitted image at once; it streams windows of WINDOW samples to the build's
sinks, so memory is one window's, whatever N.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import tracemalloc
from pathlib import Path


def _png(seed: int, side: int) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _table(folder: Path, rows: int, side: int, bad_every: int) -> Path:
    folder.mkdir(parents=True)
    lines = ["image,caption"]
    for i in range(rows):
        name = f"{i}.png"
        kind = (i // bad_every) % 3 if bad_every and i % bad_every == bad_every - 1 else None
        if kind == 0:
            name = f"missing-{i}.png"
        elif kind == 1:
            name = f"../outside-{i}.png"
        else:
            data = _png(i, side)
            (folder / name).write_bytes(data[: len(data) // 2] if kind == 2 else data)
        lines.append(f"{name},a noise picture number {i}")
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder / "table.csv"


def _ingest(table: Path) -> tuple[float, float, int, int]:
    """(seconds, peak MiB of Python allocations, admitted, rejected)."""
    from components.checks.limits import SampleLimits
    from components.data.sources.user_sources import ingest_user_sources
    from components.settings import load_settings

    cfg = load_settings("default").data.model_copy(update={"user_sources": [str(table)]})
    counts = {"admitted": 0, "rejected": 0}

    def count(kind: str):  # the build stores each window and lets it go; so does this sink
        return lambda items: counts.__setitem__(kind, counts[kind] + len(items))

    with tempfile.TemporaryDirectory() as scratch:
        tracemalloc.start()
        started = time.perf_counter()
        ingest_user_sources(cfg, SampleLimits(), 2, count("admitted"), count("rejected"),
                            scratch=Path(scratch))  # fmt: skip
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return seconds, peak, counts["admitted"], counts["rejected"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--bad-every", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for n in (args.rows, 16 * args.rows):
            table = _table(Path(tmp) / f"n{n}", n, args.side, args.bad_every)
            _ingest(table)  # warm: imports, the page cache
            results[n] = _ingest(table)
            seconds, peak, admitted, rejected = results[n]
            print(
                f"N={n:6d}: {seconds:6.2f} s ({seconds / n * 1e3:.2f} ms/row), peak "
                f"{peak:7.1f} MiB ({peak * 1024 / n:.1f} KiB/row), {admitted} admitted, "
                f"{rejected} rejected"
            )
    small, large = results[args.rows], results[16 * args.rows]
    print(f"ratio 16N/N: time {large[0] / small[0]:.1f}, memory {large[1] / small[1]:.1f}")


if __name__ == "__main__":
    main()
