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
from pathlib import Path
from typing import Protocol

from components.data.s3 import S3Store, explain_s3_error, split_url
from components.settings import S3Access

HASH_CHARS = 32  # 128 bits of the sha256: the name, and the check that a key is this shard


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ShardStore(Protocol):
    def staging(self, split: str, index: int) -> Path:
        """Where the shard is written before it is stored."""
        ...

    def store(self, split: str, index: int, written: Path) -> str:
        """Store the written shard; return its name in the manifest (relative to the corpus)."""
        ...


class FolderShards:
    """`shards/{split}-{index:05d}.tar` in the corpus folder: written in place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "shards").mkdir(exist_ok=True)

    def staging(self, split: str, index: int) -> Path:
        return self.root / f"shards/{split}-{index:05d}.tar"

    def store(self, split: str, index: int, written: Path) -> str:
        return written.relative_to(self.root).as_posix()


class S3Shards:
    """Shards under `{uri}/shards/`, each under a key named by its content; the key is only
    written when it is absent. `uploaded` and `kept` count shards (and bytes) sent and found."""

    def __init__(self, uri: str, access: S3Access, scratch: Path) -> None:
        self.uri, self.store_ = uri.rstrip("/"), S3Store(access)
        self.bucket, prefix = split_url(self.uri)
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.scratch = scratch
        self.uploaded = [0, 0]  # shards, bytes
        self.kept = [0, 0]

    def staging(self, split: str, index: int) -> Path:
        return self.scratch / f"shard-{split}-{index:05d}.tar"

    def store(self, split: str, index: int, written: Path) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        name = f"shards/{split}-{index:05d}-{_digest(written)[:HASH_CHARS]}.tar"
        key, size = self.prefix + name, written.stat().st_size
        client = self.store_.client
        try:
            try:
                held = client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            except ClientError as err:
                if str(err.response.get("Error", {}).get("Code")) not in {
                    "404",
                    "NoSuchKey",
                    "NotFound",
                }:
                    raise
                held = None
            if held == size:
                self.kept[0], self.kept[1] = self.kept[0] + 1, self.kept[1] + size
            else:  # absent, or a broken upload of other bytes: (re)write it
                client.upload_file(str(written), self.bucket, key)
                self.uploaded[0], self.uploaded[1] = self.uploaded[0] + 1, self.uploaded[1] + size
        except (ClientError, BotoCoreError) as err:
            url = f"s3://{self.bucket}/{key}"
            raise explain_s3_error(err, url, "write", self.store_.access.endpoint) from err
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
