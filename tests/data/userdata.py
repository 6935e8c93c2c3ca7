"""Small user data sets for the data tests: real images made with Pillow, tables, shards."""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path

from PIL import Image, ImageDraw

from components.settings import DataConfig

# few concepts: the emoji part of each build stays small and fast
USER_CFG = {"max_concepts": 6, "image_size": 32, "val_fraction": 0.2, "samples_per_shard": 16}


def user_cfg(base: DataConfig, **changes: object) -> DataConfig:
    return DataConfig(**{**base.model_dump(), **USER_CFG, **changes})


def picture(index: int, fmt: str = "PNG", size: tuple[int, int] = (40, 28)) -> bytes:
    """A distinct little picture per index (different pixels: no duplicate-image rejections)."""
    image = Image.new("RGB", size, ((37 * index) % 256, (91 * index) % 256, (173 * index) % 256))
    ImageDraw.Draw(image).ellipse((4, 4, 4 + index % 20 + 8, 20), fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png_header(width: int = 5000, height: int = 5000) -> bytes:
    """A small PNG whose header declares a huge image: what a decompression bomb looks like."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + pixels + _chunk(b"IEND", b"")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_csv(path: Path, rows: list[Mapping[str, str]]) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def shard_bytes(samples: Mapping[str, Mapping[str, bytes]]) -> bytes:
    """An img2dataset-style tar: members `<key>.<ext>`, one sample after another."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for key, parts in samples.items():
            for ext, data in parts.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def img2dataset_sample(index: int, caption: str, fmt: str = "JPEG", ext: str = "jpg") -> dict:
    meta = {"key": f"{index:09d}", "caption": caption, "status": "success", "url": "http://x"}
    return {
        ext: picture(index, fmt),
        "txt": caption.encode(),
        "json": json.dumps(meta).encode(),
    }
