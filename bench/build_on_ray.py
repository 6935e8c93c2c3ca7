"""What is left in the build's process when the user's WebDataset shards are built on Ray
(`data.build_on_ray`, two passes), and whether its memory grows with the corpus.

    .venv/bin/python bench/build_on_ray.py [--rows 8000] [--side 224] [--growth 16]

Part 1, the same user shards built three ways in one run (each in its own child process, on a
local Ray of this machine's cores where Ray is used): on the build's threads; windows checked by
Ray tasks (`data.check_on_ray_from_samples: 0`); the whole build on Ray. Printed per way: wall
seconds, rows/s, the build process's own CPU ms per sample (Ray's workers are other processes),
its peak RSS, the corpus's md5 (must be equal). Part 2: the build on Ray at `--rows` and at
`--growth` times as many rows of small images (64 px): the build process's CPU per extra
sample, and its peak RSS at both sizes and their ratio. On 2 cores the wall times say little:
the same cores do both sides.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_growth import in_child  # noqa: E402

PER_SHARD = 1000


def _photo(rng, side: int) -> bytes:
    import numpy as np
    from PIL import Image

    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    field = Image.fromarray(coarse).resize((side * 4 // 3, side), Image.BICUBIC)
    grain = rng.normal(0, 6, (side, side * 4 // 3, 3))
    pixels = np.clip(np.asarray(field, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_shards(folder: Path, rows: int, side: int) -> int:
    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    total = 0
    for first in range(0, rows, PER_SHARD):
        with tarfile.open(folder / f"{first // PER_SHARD:05d}.tar", "w") as archive:
            for n in range(first, min(rows, first + PER_SHARD)):
                caption = f"a photo of a scene number {n}".encode()
                for ext, data in (("jpg", _photo(rng, side)), ("txt", caption)):
                    info = tarfile.TarInfo(f"{n:09d}.{ext}")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
                    total += len(data)
    return total


def _build(shards: str, out: str, way: str, queue) -> None:
    from components.data.build import build_corpus
    from components.settings import DataConfig, load_settings

    settings = load_settings("default")
    cfg = DataConfig(
        **{**settings.data.model_dump(), "max_concepts": 6, "user_sources": [shards],
           "check_on_ray_from_samples": 0 if way == "checks_on_ray" else None,
           "build_on_ray": way == "build_on_ray"}
    )  # fmt: skip
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    card = build_corpus(cfg, settings.paths.sources, Path(out))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    digest = hashlib.md5()
    for path in sorted(Path(out).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(out).as_posix().encode() + path.read_bytes())
    users = card["counts"]["by_source"].get("user", 0)
    queue.put((seconds, cpu_s, users, digest.hexdigest(), after.ru_maxrss / 1024))


def _run(source: Path, out: Path, way: str) -> dict:
    seconds, cpu_s, users, md5, rss = in_child(_build, str(source), str(out), way)
    return {"samples": users, "seconds": round(seconds, 1), "rows_per_s": round(users / seconds),
            "process_cpu_ms_per_sample": round(1000 * cpu_s / users, 3),
            "peak_rss_mib": round(rss), "corpus_md5": md5}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--growth", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        size = write_shards(source, args.rows, args.side)
        print(f"{args.rows} samples, {size / 1e6:.1f} MB of {args.side} px JPEGs and captions")
        results = {}
        for way in ("threads", "checks_on_ray", "build_on_ray"):
            results[way] = _run(source, Path(tmp) / way, way)
            print(way, json.dumps(results[way]), flush=True)
        md5s = {r["corpus_md5"] for r in results.values()}
        print(f"same corpus three ways: {len(md5s) == 1}")
        for way in ("threads", "checks_on_ray"):
            ratio = (
                results[way]["process_cpu_ms_per_sample"]
                / results["build_on_ray"]["process_cpu_ms_per_sample"]
            )
            print(f"the build process's CPU per sample, {way} / build_on_ray: {ratio:.2f}x")

        growth = {}
        for rows in (args.rows, args.rows * args.growth):
            small = Path(tmp) / f"small-{rows}"
            write_shards(small, rows, 64)
            growth[rows] = _run(small, Path(tmp) / f"out-{rows}", "build_on_ray")
            print(f"build_on_ray, {rows} rows of 64 px:", json.dumps(growth[rows]), flush=True)
        (n1, small_run), (n2, large_run) = sorted(growth.items())
        cpu1 = small_run["process_cpu_ms_per_sample"] * small_run["samples"]
        cpu2 = large_run["process_cpu_ms_per_sample"] * large_run["samples"]
        marginal = (cpu2 - cpu1) / (large_run["samples"] - small_run["samples"])
        print(f"the build process's CPU per extra sample (start-up left out): {marginal:.3f} ms, "
              f"a ceiling of {1000 / marginal:.0f} samples/s per build")  # fmt: skip
        low, high = small_run["peak_rss_mib"], large_run["peak_rss_mib"]
        print(f"peak RSS of the build process, {args.growth}x the rows: {high / low:.2f}x "
              f"({low} -> {high} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()
