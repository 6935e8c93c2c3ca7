"""Where the build puts each finished shard: the corpus folder, or an s3:// prefix
(`data.output`) under a content-addressed name.

On S3 a shard's key holds the sha256 of its bytes (`shards/train-00003-<sha256 32 hex>.tar`):
a key is written once and never changes, so a manifest (the only thing DVC versions then)
names exactly the bytes it was built with, every version's shards can share one prefix, and a
rebuild that makes the same shard uploads nothing. Shards pass through the build's scratch
one at a time, so the build machine never holds the corpus.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from components.data.corpus.webdataset import write_shard
from components.data.s3 import S3Store
from components.settings import S3Access

HASH_CHARS = 32  # 128 bits of the sha256: the name, and the check that a key is this shard

Members = Mapping[str, Mapping[str, bytes]]  # {sample key: {extension: bytes}}


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ShardStore(Protocol):
    def put(self, split: str, index: int, members: Members) -> str:
        """Write and store shard `index` of `split`; return its name in the manifest."""
        ...


class FolderShards:
    """`shards/{split}-{index:05d}.tar` in the corpus folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "shards").mkdir(exist_ok=True)

    def put(self, split: str, index: int, members: Members) -> str:
        name = f"shards/{split}-{index:05d}.tar"
        write_shard(self.root / name, members)
        return name


class S3Shards:
    """Shards under `{uri}/shards/`, each under a key named by its content, written only when
    absent. `uploaded` and `kept`: shards sent and found already there; `uploaded_bytes`."""

    def __init__(self, uri: str, access: S3Access, scratch: Path) -> None:
        self.uri, self.s3, self.scratch = uri.rstrip("/"), S3Store(access), scratch
        self.uploaded = self.uploaded_bytes = self.kept = 0

    def put(self, split: str, index: int, members: Members) -> str:
        written = self.scratch / f"shard-{split}-{index:05d}.tar"
        try:
            write_shard(written, members)
            name = f"shards/{split}-{index:05d}-{_digest(written)[:HASH_CHARS]}.tar"
            url, size = f"{self.uri}/{name}", written.stat().st_size
            if self.s3.size_of(url) == size:
                self.kept += 1
            else:  # absent, or a broken upload of other bytes: (re)write it
                self.s3.upload(written, url)
                self.uploaded, self.uploaded_bytes = self.uploaded + 1, self.uploaded_bytes + size
        finally:
            written.unlink(missing_ok=True)
        return name


def shard_store(
    root: Path, output: str | None, access: S3Access | None, scratch: Path
) -> FolderShards | S3Shards:
    """The store `data.output` names: None = the corpus folder, s3://... = that prefix
    (reached with `access`; None: boto3's own credential sources)."""
    if output is None:
        return FolderShards(root)
    return S3Shards(output, access or S3Access(), scratch)
