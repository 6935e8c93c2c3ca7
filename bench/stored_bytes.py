"""Bytes in / bytes out of the build for user WebDataset shards of JPEG photos, and what the
previous build (every image re-encoded as a square PNG of data.image_size) stored for the same.

    .venv/bin/python bench/stored_bytes.py [--photos 200] [--image-size 224]

Writes img2dataset-style shards of smooth synthetic photos (4:3 and 3:4, 480-1600 px on the long
side, JPEG quality 90), builds a corpus from them (the emoji part capped at a few concepts), and
prints: user bytes in, user bytes out, their ratio (1.00 = every byte kept), how many photos were
stored as given and how many resized (shorter side above data.max_stored_side), how many kept
their aspect ratio; then the bytes the old square-PNG rendering would have stored, and that ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = [(640, 480), (480, 640), (1024, 768), (1600, 1200)]


def _photo(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    from PIL import Image

    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 256, size=3)
    pixels = np.stack(
        [(base[c] + 80 * np.sin(x / (30 + 20 * c)) + 60 * np.cos(y / 45)) for c in range(3)], -1
    )
    pixels += rng.normal(0, 6, pixels.shape)  # sensor noise: JPEG sizes of real photos
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _write_shards(folder: Path, photos: list[bytes], per_shard: int = 100) -> None:
    folder.mkdir(parents=True)
    for start in range(0, len(photos), per_shard):
        with tarfile.open(folder / f"{start // per_shard:05d}.tar", "w") as archive:
            for i, data in enumerate(photos[start : start + per_shard], start=start):
                caption = f"a synthetic photo number {i}".encode()
                for ext, body in (("jpg", data), ("txt", caption), ("json", b"{}")):
                    info = tarfile.TarInfo(f"{i:09d}.{ext}")
                    info.size = len(body)
                    archive.addfile(info, io.BytesIO(body))


def _old_png_bytes(photos: list[bytes], side: int) -> int:
    """What the previous build stored: each photo squashed to side x side, as a PNG."""
    from components.data.corpus.images import render_user_image

    return sum(len(render_user_image(data, side)) for data in photos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=224, help="the old square PNG side")
    args = parser.parse_args()

    from components.data.build import build_corpus
    from components.data.corpus.manifest import read_manifest
    from components.settings import DataConfig, load_settings

    rng = np.random.default_rng(0)
    photos = [_photo(rng, SIZES[i % len(SIZES)]) for i in range(args.photos)]
    settings = load_settings("default")
    with tempfile.TemporaryDirectory() as tmp:
        _write_shards(Path(tmp) / "shards", photos)
        cfg = DataConfig(
            **{
                **settings.data.model_dump(),
                "max_concepts": 6,
                "user_sources": [str(Path(tmp) / "shards")],
            }
        )
        build_corpus(cfg, settings.paths.sources, Path(tmp) / "data")
        rows = [r for r in read_manifest(Path(tmp) / "data").to_pylist() if r["source"] == "user"]
    given = {hashlib.sha256(p).hexdigest() for p in photos}
    kept = sum(r["image_sha256"] in given for r in rows)
    aspect = sum(
        abs(r["width"] / r["height"] - 4 / 3) < 0.01 or abs(r["height"] / r["width"] - 4 / 3) < 0.01
        for r in rows
    )
    bytes_in, bytes_out = sum(map(len, photos)), sum(r["n_bytes"] for r in rows)
    kept_bytes = sum(r["n_bytes"] for r in rows if r["image_sha256"] in given)
    small_in = sum(len(p) for i, p in enumerate(photos) if min(SIZES[i % len(SIZES)]) <= 512)
    old = _old_png_bytes(photos, args.image_size)
    print(
        json.dumps(
            {
                "photos": len(photos),
                "admitted": len(rows),
                "stored_as_given": kept,
                "resized": len(rows) - kept,
                "aspect_ratio_kept": aspect,
                "max_stored_side": cfg.max_stored_side,
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "in_over_out": round(bytes_in / bytes_out, 3),
                "photos_at_most_512_in_over_out": round(small_in / kept_bytes, 3),
                f"old_square_png_{args.image_size}_bytes": old,
                "old_over_in": round(old / bytes_in, 3),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
