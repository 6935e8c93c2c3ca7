"""How the data build and the validation gate grow with the corpus: N and 16N user samples in one
run, each phase in a forked child so that its peak RSS is its own.

    .venv/bin/python bench/ingest_growth.py [--rows 2000] [--side 32]

Writes img2dataset-style shards of N (then 16N) distinct noise JPEGs of side x 3/4 side with a
caption each, builds a corpus from them (the emoji part capped at a few concepts), then runs
the gate on it. Prints per size: rows/s and peak RSS (MiB) of the build and of the gate, then
the 16N/N ratios. Issue 15's goal is peak RSS flat in N (<= 1.2x from 100k to 1M rows); a ratio
near 16 means a phase holds the whole corpus at once.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER_SHARD = 1000


def _jpeg(index: int, side: int) -> bytes:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(index).integers(0, 256, (side * 3 // 4, side, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _write_shards(folder: Path, rows: int, side: int) -> None:
    folder.mkdir(parents=True)
    for start in range(0, rows, PER_SHARD):
        with tarfile.open(folder / f"{start // PER_SHARD:05d}.tar", "w") as archive:
            for i in range(start, min(rows, start + PER_SHARD)):
                members = (("jpg", _jpeg(i, side)), ("txt", f"noise picture {i}".encode()))
                for ext, body in members:
                    info = tarfile.TarInfo(f"{i:09d}.{ext}")
                    info.size = len(body)
                    archive.addfile(info, io.BytesIO(body))


def _build(shards: str, out: str) -> None:
    from components.data.build import build_corpus
    from components.settings import DataConfig, load_settings

    settings = load_settings("default")
    cfg = DataConfig(**{**settings.data.model_dump(), "max_concepts": 6, "user_sources": [shards]})
    build_corpus(cfg, settings.paths.sources, Path(out))


def _validate(data: str, report: str) -> None:
    from components.settings import load_settings
    from components.validation.gate import validate_corpus

    gate = load_settings("default").validate_.model_copy(update={"min_rows": 1})
    validate_corpus(Path(data), gate, Path(report))


def _child(target, args, queue) -> None:
    started = time.perf_counter()
    target(*args)
    queue.put((time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def _measure(target, *args) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of target(*args) in a forked child."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    seconds, peak_kib = queue.get()
    process.join()
    return seconds, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--side", type=int, default=32)
    args = parser.parse_args()
    results = {}
    for rows in (args.rows, 16 * args.rows):
        with tempfile.TemporaryDirectory() as tmp:
            _write_shards(Path(tmp) / "shards", rows, args.side)
            data, report = str(Path(tmp) / "data"), str(Path(tmp) / "report")
            build_s, build_mib = _measure(_build, str(Path(tmp) / "shards"), data)
            gate_s, gate_mib = _measure(_validate, data, report)
        results[rows] = {
            "build_s": build_s,
            "gate_s": gate_s,
            "build_rows_per_s": round(rows / build_s, 1),
            "build_peak_rss_mib": round(build_mib, 1),
            "gate_rows_per_s": round(rows / gate_s, 1),
            "gate_peak_rss_mib": round(gate_mib, 1),
        }
        shown = {k: v for k, v in results[rows].items() if not k.endswith("_s")}
        print(rows, json.dumps(shown), flush=True)
    small, large = results[args.rows], results[16 * args.rows]
    print(
        json.dumps(
            {
                "build_rss_16N_over_N": round(
                    large["build_peak_rss_mib"] / small["build_peak_rss_mib"], 3
                ),
                "gate_rss_16N_over_N": round(
                    large["gate_peak_rss_mib"] / small["gate_peak_rss_mib"], 3
                ),
                "build_rows_per_s_16N_over_N": round(
                    large["build_rows_per_s"] / small["build_rows_per_s"], 3
                ),
                "gate_rows_per_s_16N_over_N": round(
                    large["gate_rows_per_s"] / small["gate_rows_per_s"], 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
