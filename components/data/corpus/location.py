"""Where a built corpus lives (manifest.parquet and its shards): a local folder or an s3://
prefix. Every node of a Ray cluster opens the same location by itself, through a pyarrow
filesystem built from the settings' S3Access: no folder shared between nodes.

Names inside the corpus come from its manifest, which is untrusted: a name that would leave the
location (an absolute path, `..`, a URL) is refused before anything is opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from components.data.errors import DataSourceError
from components.data.s3 import is_s3, s3_filesystem, split_url
from components.settings import S3Access


@dataclass(frozen=True)
class CorpusLocation:
    uri: str  # an absolute folder, or s3://bucket/prefix
    s3: S3Access = field(default_factory=S3Access)

    @classmethod
    def of(cls, where: str | Path, s3: S3Access | None = None) -> CorpusLocation:
        text = str(where)
        if not is_s3(text):
            text = str(Path(text).resolve())
        else:
            split_url(text)  # a clear error for s3:// without a bucket
        return cls(text.rstrip("/") or "/", s3 or S3Access())

    @property
    def on_s3(self) -> bool:
        return is_s3(self.uri)

    def filesystem(self) -> Any:  # pyarrow.fs.FileSystem
        from pyarrow.fs import LocalFileSystem

        return s3_filesystem(self.s3) if self.on_s3 else LocalFileSystem()

    def path(self, name: str) -> str:
        """`name` inside the location, as the filesystem spells it (bucket/key on S3)."""
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or ":" in name:
            raise DataSourceError(f"{name!r} is not a name inside the corpus at {self.uri}")
        root = self.uri.removeprefix("s3://")
        return f"{root}/{name}"

    def url(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def open_stream(self, name: str, filesystem: Any = None) -> Any:
        """A sequential reader of `name` (a shard streams from S3 without seeking)."""
        fs = filesystem or self.filesystem()
        try:
            return fs.open_input_stream(self.path(name))
        except (OSError, FileNotFoundError) as err:
            raise DataSourceError(f"cannot read {self.url(name)}: {err}") from err

    def read_bytes(self, name: str) -> bytes:
        with self.open_stream(name) as stream:
            return stream.read()

    def open_file(self, name: str) -> Any:
        """A random-access reader of `name` (what parquet needs)."""
        try:
            return self.filesystem().open_input_file(self.path(name))
        except (OSError, FileNotFoundError) as err:
            raise DataSourceError(f"cannot read {self.url(name)}: {err}") from err
