"""How much of the build's per-sample work leaves the build's process when its windows are
checked on Ray (data.check_on_ray_from_samples): the same user shards built twice in one run,
checked on the build's threads, then by Ray tasks (a local Ray of this machine's cores).

    .venv/bin/python bench/build_checks_on_ray.py [--rows 8000] [--side 224]

The user's data: img2dataset-style shards of `--side` px JPEG photos-alike (smooth colour
fields with grain, about what a 224 px web photo weighs) and captions. Printed per way: wall
seconds, rows/s, the build process's own CPU seconds per sample (Ray's workers are other
processes), the corpus's md5; then the ratio of the process's CPU per sample, threads / Ray:
how many cores' worth of checking one build process can keep fed (its ceiling, in samples/s,
is 1 / its CPU per sample). On 2 cores the wall times say little: the same cores do both.
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


def _build(shards: str, out: str, on_ray_from: int | None, queue) -> None:
    from components.data.build import build_corpus
    from components.settings import DataConfig, load_settings

    settings = load_settings("default")
    cfg = DataConfig(
        **{**settings.data.model_dump(), "max_concepts": 6, "user_sources": [shards],
           "check_on_ray_from_samples": on_ray_from}
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
    queue.put((seconds, cpu_s, card["counts"]["by_source"].get("user", 0), digest.hexdigest()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--side", type=int, default=224)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        size = write_shards(source, args.rows, args.side)
        print(f"{args.rows} samples, {size / 1e6:.1f} MB of {args.side} px JPEGs and captions")
        results = {}
        for way, on_ray_from in (("threads", None), ("ray", 0)):
            seconds, cpu_s, users, md5 = in_child(
                _build, str(source), str(Path(tmp) / way), on_ray_from
            )
            results[way] = {"seconds": round(seconds, 1), "rows_per_s": round(users / seconds),
                            "process_cpu_ms_per_sample": round(1000 * cpu_s / users, 3),
                            "corpus_md5": md5}  # fmt: skip
            print(way, json.dumps(results[way]), flush=True)
    threads, ray = results["threads"], results["ray"]
    ratio = threads["process_cpu_ms_per_sample"] / ray["process_cpu_ms_per_sample"]
    print(f"same corpus: {threads['corpus_md5'] == ray['corpus_md5']}")
    print(f"the build process's CPU per sample, threads / Ray: {ratio:.2f}x; its ceiling with "
          f"Ray checking: {1000 / ray['process_cpu_ms_per_sample']:.0f} samples/s")  # fmt: skip


if __name__ == "__main__":
    main()
