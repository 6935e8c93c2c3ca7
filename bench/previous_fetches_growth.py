"""How a rebuild's lookup of the previous corpus's URL answers grows: N and F x N logged URLs
in one run, each size in a spawned child so that its peak RSS is its own.

    .venv/bin/python bench/previous_fetches_growth.py [--rows 62500] [--factor 16]

A previous corpus is written with only what the lookup reads: fetched.parquet (every URL a
404, so no shard is opened), the manifest's hash columns and the card's sample limits. The
child indexes it (PreviousFetches) and asks for every URL in windows of 4,096, as a rebuild
of the same table does. Printed per size: seconds, peak RSS; then the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_growth import in_child  # noqa: E402

WINDOW = 4_096
LIMITS = {"max_image_bytes": 1}


def _url(n: int) -> str:
    return f"https://images.example.org/photos/{n:09d}.jpg"


def _write_previous(root: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.data.fetch.fetch_log import FETCHED, SCHEMA

    root.mkdir(parents=True)
    stored = pa.schema([(name, pa.string()) for name in ("image_sha256", "shard", "key")])
    with (
        pq.ParquetWriter(root / FETCHED, SCHEMA) as log,
        pq.ParquetWriter(root / "manifest.parquet", stored) as manifest,
    ):
        for start in range(0, rows, WINDOW):
            numbers = range(start, min(rows, start + WINDOW))
            shas = [hashlib.sha256(str(n).encode()).hexdigest() for n in numbers]
            count = len(shas)
            log.write_table(pa.table({
                "url": [_url(n) for n in numbers], "reason": ["http_404"] * count,
                "detail": ["the server answered 404 Not Found"] * count,
                "http_status": pa.array([404] * count, pa.int32()),
                "sha256": [None] * count, "etag": [None] * count,
            }, schema=SCHEMA))  # fmt: skip
            manifest.write_table(pa.table({
                "image_sha256": shas,
                "shard": [f"shards/train-{n // 500:05d}.tar" for n in numbers],
                "key": [f"user-{sha[:16]}" for sha in shas],
            }))  # fmt: skip
    (root / "card.json").write_text(json.dumps({"build": {"user_sample_limits": LIMITS}}))


def _lookup(previous: str, rows: int, queue) -> None:
    from components.data.fetch.fetch_log import PreviousFetches

    started = time.perf_counter()
    answered = 0
    with tempfile.TemporaryDirectory() as scratch:
        index = PreviousFetches(Path(previous), LIMITS, Path(scratch))
        for start in range(0, rows, WINDOW):
            urls = [_url(n) for n in range(start, min(rows, start + WINDOW))]
            answered += len(index.answers(urls, lambda _: {}))
        index.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((time.perf_counter() - started, peak, answered))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=62_500)
    parser.add_argument("--factor", type=int, default=16)
    args = parser.parse_args()
    results = {}
    for rows in (args.rows, args.factor * args.rows):
        with tempfile.TemporaryDirectory() as tmp:  # never inside the checkout
            _write_previous(Path(tmp) / "previous", rows)
            seconds, peak, answered = in_child(_lookup, str(Path(tmp) / "previous"), rows)
        assert answered == rows, f"{answered} of {rows} URLs answered by the previous corpus"
        results[rows] = {"rows": rows, "seconds": round(seconds, 1), "peak_rss_mib": round(peak, 1)}
        print(json.dumps(results[rows]), flush=True)
    small, large = results[args.rows], results[args.factor * args.rows]
    print(json.dumps({"peak_rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3)}))


if __name__ == "__main__":
    main()
