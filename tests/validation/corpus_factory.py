"""Build small corpora in the data contract (shards/{split}-{index:05d}.tar + manifest.parquet +
card.json), including deliberately broken samples, for the validation tests."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from components.validation.manifest_suite import MANIFEST_COLUMNS


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise(seed: int, size: tuple[int, int] = (64, 64), mode: str = "RGB") -> Image.Image:
    """A random image: distinct seeds never collide, so duplicates happen only on purpose."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "RGBA":
        alpha = Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
        rgb.putalpha(alpha)
        return rgb
    return rgb if mode == "RGB" else rgb.convert(mode)


def noise_png(seed: int, size: tuple[int, int] = (64, 64)) -> bytes:
    return encode(noise(seed, size))


def sixteen_bit_png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return encode(Image.fromarray(rng.integers(0, 65536, (64, 64), dtype=np.uint16)))


def header_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header promises width x height pixels: decoding would need gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def flip_byte(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0xFF
    return bytes(out)


@dataclass
class Sample:
    """One sample as written. None for a member means 'leave it out of the tar'."""

    id: str
    image: bytes | None
    caption: bytes | None = b"a photo of noise"
    split: str = "train"
    source: str = "noto"
    meta_id: str | None = None  # the id written into <key>.json (default: id)
    shard: str | None = None  # manifest shard path override (the sample is not written)
    manifest: dict[str, object] = field(default_factory=dict)  # manifest value overrides
    symlink_member: bool = False  # write <key>.png as a symlink entry
    listed: bool = True  # False: in a shard, but no manifest row


def _image_size(data: bytes | None) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data or b"")) as image:
            return image.size
    except Exception:  # the broken samples: the manifest just says what the builder expected
        return (64, 64)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def _write_members(tar: tarfile.TarFile, sample: Sample) -> None:
    if sample.symlink_member:
        link = tarfile.TarInfo(f"{sample.id}.png")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        tar.addfile(link)
    elif sample.image is not None:
        _add(tar, f"{sample.id}.png", sample.image)
    if sample.caption is not None:
        _add(tar, f"{sample.id}.txt", sample.caption)
    caption = (sample.caption or b"").decode("utf-8", errors="replace")
    meta = {
        "id": sample.meta_id or sample.id,
        "code": sample.id.upper(),
        "concept": "noise",
        "captions": [caption or "noise"],
        "source": sample.source,
        "license": "Apache-2.0",
        "split": sample.split,
    }
    _add(tar, f"{sample.id}.json", json.dumps(meta).encode())


def manifest_row(sample: Sample, shard: str) -> dict[str, object]:
    caption = (sample.caption or b"").decode("utf-8", errors="replace")
    width, height = _image_size(sample.image)
    row: dict[str, object] = {
        "id": sample.id,
        "split": sample.split,
        "source": sample.source,
        "license": "Apache-2.0",
        "code": sample.id.upper(),
        "concept": "noise",
        "caption": caption,
        "captions": [caption],
        "shard": shard,
        "key": sample.id,
        # a left-out image still has its own hash in a real manifest
        "image_sha256": hashlib.sha256(sample.image or sample.id.encode()).hexdigest(),
        "width": width,
        "height": height,
        "n_bytes": len(sample.image or b""),
        "caption_chars": len(caption),
    }
    return row | sample.manifest


def write_corpus(data_dir: Path, samples: list[Sample], per_shard: int = 8) -> Path:
    """Write the shards, manifest.parquet and card.json; returns data_dir."""
    shards = data_dir / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for split in dict.fromkeys(s.split for s in samples):
        in_split = [s for s in samples if s.split == split and s.shard is None]
        for index in range(0, len(in_split), per_shard):
            name = f"shards/{split}-{index // per_shard:05d}.tar"
            with tarfile.open(data_dir / name, "w") as tar:
                for sample in in_split[index : index + per_shard]:
                    _write_members(tar, sample)
                    if sample.listed:
                        rows.append(manifest_row(sample, name))
    rows += [manifest_row(s, s.shard) for s in samples if s.shard is not None]
    order = {s.id: n for n, s in enumerate(samples)}  # manifest in the samples' order
    rows.sort(key=lambda r: order.get(str(r["id"]), len(order)))
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    frame.to_parquet(data_dir / "manifest.parquet", index=False)
    (data_dir / "card.json").write_text(json.dumps({"name": "test corpus", "rows": len(rows)}))
    return data_dir


def good_samples(n: int, seed: int = 0) -> list[Sample]:
    splits = ("train", "val", "heldout_style")
    return [
        Sample(
            id=f"good-{i:03d}",
            image=noise_png(seed * 10_000 + i),
            caption=f"an emoji of thing number {i}".encode(),
            split=splits[i % 3],
            source="openmoji" if splits[i % 3] == "heldout_style" else "noto",
        )
        for i in range(n)
    ]


def write_tar(path: Path, samples: list[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for sample in samples:
            _write_members(tar, sample)
