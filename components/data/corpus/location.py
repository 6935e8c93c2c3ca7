"""Where a built corpus lives (manifest.parquet and its shards): a local folder or an s3://
prefix. Every node of a Ray cluster opens the same location by itself, through a pyarrow
filesystem built from the settings' S3Access: no folder shared between nodes.

A corpus built with `data.output: s3://...` keeps its shards there and its manifest, card and
logs in the folder (what data.dvc versions); its card says where the shards are, so any
checked-out version finds its own. Names inside the corpus come from its manifest, which is
untrusted: a name that would leave the location (an absolute path, `..`, a URL) is refused
before anything is opened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from components.artifacts import CARD_FILE
from components.data.errors import DataSourceError
from components.data.s3 import is_s3, s3_filesystem, split_url
from components.settings import S3Access

SHARDS = "shards"  # the folder of a corpus's names that may live at its card's `output`


def _shards_at(card: bytes | None) -> str | None:
    """The card's `build.output`: the s3:// prefix its shards were written to, or None."""
    try:
        output = json.loads(card.decode("utf-8")).get("build", {}).get("output") if card else None
    except (ValueError, AttributeError) as err:
        raise DataSourceError(f"the corpus's card.json is not a JSON card: {err}") from err
    if output is None:
        return None
    if not isinstance(output, str) or not is_s3(output):
        raise DataSourceError(f"the corpus's card.json names its shards at {output!r}, not s3://")
    split_url(output)  # a clear error for s3:// without a bucket
    return output.rstrip("/")


@dataclass(frozen=True)
class CorpusLocation:
    uri: str  # an absolute folder, or s3://bucket/prefix: the manifest, card, logs
    s3: S3Access = field(default_factory=S3Access)
    shards_uri: str | None = None  # s3://bucket/prefix of `shards/...` names; None: `uri`

    @classmethod
    def of(cls, where: str | Path, s3: S3Access | None = None) -> CorpusLocation:
        """The corpus at `where`; where its shards are is read from its card."""
        text = str(where)
        if not is_s3(text):
            text = str(Path(text).resolve())
        else:
            split_url(text)  # a clear error for s3:// without a bucket
        base = cls(text.rstrip("/") or "/", s3 or S3Access())
        try:
            card = base.read_bytes(CARD_FILE)
        except DataSourceError:
            card = None  # no card (a corpus from elsewhere): everything at `where`
        return cls(base.uri, base.s3, _shards_at(card))

    def _root(self, name: str) -> str:
        first = PurePosixPath(name).parts[0] if PurePosixPath(name).parts else ""
        return self.shards_uri if self.shards_uri and first == SHARDS else self.uri

    @property
    def on_s3(self) -> bool:
        return is_s3(self.uri)

    def filesystem(self, name: str = "") -> Any:  # pyarrow.fs.FileSystem
        """The filesystem `name` is on (the manifest's, without a name)."""
        from pyarrow.fs import LocalFileSystem

        return s3_filesystem(self.s3) if is_s3(self._root(name)) else LocalFileSystem()

    def path(self, name: str) -> str:
        """`name` inside the location, as the filesystem spells it (bucket/key on S3)."""
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or ":" in name:
            raise DataSourceError(f"{name!r} is not a name inside the corpus at {self.uri}")
        return f"{self._root(name).removeprefix('s3://')}/{name}"

    def url(self, name: str) -> str:
        return f"{self._root(name)}/{name}"

    def open_stream(self, name: str, filesystem: Any = None) -> Any:
        """A sequential reader of `name` (a shard streams from S3 without seeking)."""
        path = self.path(name)  # refuses a name outside first
        fs = filesystem or self.filesystem(name)
        try:
            return fs.open_input_stream(path)
        except (OSError, FileNotFoundError) as err:
            raise DataSourceError(f"cannot read {self.url(name)}: {err}") from err

    def read_bytes(self, name: str) -> bytes:
        with self.open_stream(name) as stream:
            return stream.read()

    def open_file(self, name: str) -> Any:
        """A random-access reader of `name` (what parquet needs)."""
        try:
            return self.filesystem(name).open_input_file(self.path(name))
        except (OSError, FileNotFoundError) as err:
            raise DataSourceError(f"cannot read {self.url(name)}: {err}") from err
