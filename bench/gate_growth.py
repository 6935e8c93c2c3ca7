"""How the validation gate grows with the corpus: a synthetic corpus of N rows, then of F x N rows,
gated in one run, each gate in a child process so its peak RSS is its own.

    .venv/bin/python bench/gate_growth.py [--rows 100000] [--factor 10] [--decode ray|threads]

The corpus is written straight in the corpus format (shards of 1,000 samples: a small noise
JPEG, caption and metadata each; manifest.parquet streamed row group by row group), not built,
so the gate is measured alone at sizes the build cannot reach yet. Printed per size: rows/s,
seconds, the gate process's peak RSS, and the largest RSS any Ray worker reached (sampled
every 0.2 s); then the F x N / N ratios. Issue 15's goal: peak RSS at 100k and 1M rows within
20% of each other, and under 4 GiB.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER_SHARD = 1000
SIDE = 16


def _jpegs(start: int, count: int) -> list[bytes]:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(start).integers(0, 256, (count, SIDE, SIDE, 3), np.uint8)
    out = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def write_corpus(data: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.data.corpus.manifest import SCHEMA
    from components.data.corpus.webdataset import write_shard

    (data / "shards").mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(data / "manifest.parquet", SCHEMA) as writer:
        for start in range(0, rows, PER_SHARD):
            shard = f"shards/train-{start // PER_SHARD:05d}.tar"
            members, manifest = {}, []
            images = _jpegs(start, min(PER_SHARD, rows - start))
            for i, image in enumerate(images, start=start):
                sample_id, caption = f"user-{i:012x}", f"noise picture number {i}"
                meta = {"id": sample_id, "concept": caption, "captions": [caption]}
                members[sample_id] = {
                    "jpg": image, "txt": caption.encode(), "json": json.dumps(meta).encode()
                }  # fmt: skip
                manifest.append({
                    "id": sample_id, "split": "train", "source": "user", "license": "CC0-1.0",
                    "code": f"{i:012x}", "concept": caption, "caption": caption,
                    "captions": [caption], "shard": shard, "key": sample_id,
                    "image_sha256": hashlib.sha256(image).hexdigest(), "width": SIDE,
                    "height": SIDE, "n_bytes": len(image), "caption_chars": len(caption),
                })  # fmt: skip
            write_shard(data / shard, members)
            writer.write_table(pa.Table.from_pylist(manifest, schema=SCHEMA))
    (data / "card.json").write_text(json.dumps({"name": "synthetic", "rows": rows}))


class _WorkerPeak:
    """The largest resident set any Ray worker process reaches while the gate runs."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for process in psutil.process_iter(["name", "memory_info"]):
                name = process.info["name"] or ""
                if name.startswith("ray::") and process.info["memory_info"] is not None:
                    rss = process.info["memory_info"].rss / 2**20
                    self.peak_mib = max(self.peak_mib, rss)

    def __enter__(self) -> _WorkerPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _gate(data: str, report: str, decode: str, queue) -> None:
    import os

    from components.settings import Services, load_settings
    from components.validation.gate import validate_corpus

    threshold = 1 if decode == "ray" else None
    gate = load_settings("default").validate_.model_copy(
        update={"min_rows": 1, "decode_on_ray_from_rows": threshold}
    )
    started = time.perf_counter()
    with _WorkerPeak() as workers:
        s3 = Services.from_environment(os.environ).s3  # shards a card places on S3
        report_ = validate_corpus(Path(data), gate, Path(report), s3=s3)
    seconds = time.perf_counter() - started
    assert report_.n_rejected == 0 and report_.n_decoded == report_.n_rows, report_.summary
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak, workers.peak_mib))


def in_child(target, *args):
    """What target(*args, queue) puts on the queue, run in a spawned child (its own peak RSS;
    a fork would inherit the parent's pages and pyarrow's threads)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _measure(data: Path, report: Path, decode: str) -> tuple[float, float, float]:
    return in_child(_gate, str(data), str(report), decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--decode", choices=("ray", "threads"), default="ray")
    parser.add_argument("--corpora", type=Path, help="keep (and reuse) the corpora here")
    args = parser.parse_args()
    results = {}
    for rows in (args.rows, args.factor * args.rows):
        with tempfile.TemporaryDirectory() as tmp:  # never inside the checkout
            data = (args.corpora / f"rows-{rows}") if args.corpora else Path(tmp) / "data"
            started = time.perf_counter()
            if not (data / "card.json").is_file():  # written last: a whole corpus
                write_corpus(data, rows)
            written = time.perf_counter() - started
            seconds, peak, worker = _measure(data, Path(tmp) / "report", args.decode)
        results[rows] = {"rows": rows, "seconds": round(seconds, 1),
                         "rows_per_s": round(rows / seconds, 1),
                         "peak_rss_mib": round(peak, 1), "ray_worker_peak_mib": round(worker, 1),
                         "corpus_written_s": round(written, 1)}  # fmt: skip
        print(json.dumps(results[rows]), flush=True)
    small, large = results[args.rows], results[args.factor * args.rows]
    print(json.dumps({
        "decode": args.decode,
        "peak_rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        "ray_worker_peak_ratio": round(
            large["ray_worker_peak_mib"] / max(small["ray_worker_peak_mib"], 1e-9), 3),
        "rows_per_s_ratio": round(large["rows_per_s"] / small["rows_per_s"], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
