"""Where Ray Train keeps a run: a local folder or s3://bucket/prefix (SeaweedFS, MinIO, AWS).

Multi-node training needs storage every node reaches; S3 goes through a pyarrow S3FileSystem
built from the standard AWS variables (components/data/s3.py). Beside Ray's own files each run
folder holds `clip_run.json`: the MLflow run it logs to and the spec a resume must match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.data.s3 import s3_filesystem
from components.errors import UserError
from components.settings import S3Access

RUN_RECORD = "clip_run.json"


class StorageError(UserError):
    """The run storage cannot be used (no bucket, no access, no endpoint)."""


@dataclass(frozen=True)
class RunStorage:
    uri: str  # as the user reads it: /abs/folder or s3://bucket/prefix
    path: str  # Ray's storage_path: the folder, or bucket/prefix when a filesystem is given
    filesystem: Any  # pyarrow.fs.FileSystem

    @property
    def ray_filesystem(self) -> Any:
        """What RunConfig.storage_filesystem takes: None for a local folder (Ray's default)."""
        from pyarrow.fs import LocalFileSystem

        return None if isinstance(self.filesystem, LocalFileSystem) else self.filesystem

    def run_uri(self, name: str) -> str:
        return f"{self.uri.rstrip('/')}/{name}"

    def read_record(self, name: str) -> dict[str, Any] | None:
        from pyarrow.fs import FileType

        target = f"{self.path}/{name}/{RUN_RECORD}"
        try:
            if self.filesystem.get_file_info(target).type != FileType.File:
                return None
            with self.filesystem.open_input_stream(target) as stream:
                return json.loads(stream.read())
        except OSError as err:
            raise StorageError(f"cannot read {self.run_uri(name)}/{RUN_RECORD}: {err}") from err

    def write_record(self, name: str, record: dict[str, Any]) -> None:
        folder = f"{self.path}/{name}"
        try:
            self.filesystem.create_dir(folder, recursive=True)
            with self.filesystem.open_output_stream(f"{folder}/{RUN_RECORD}") as stream:
                stream.write(json.dumps(record, indent=2, sort_keys=True).encode())
        except OSError as err:
            raise StorageError(f"cannot write {self.run_uri(name)}/{RUN_RECORD}: {err}") from err


def resolve_storage(
    storage_path: str | None, artifacts: Path, workdir: Path, s3: S3Access
) -> RunStorage:
    """The configured storage (train.storage_path), checked to be reachable before training."""
    from pyarrow.fs import FileType, LocalFileSystem

    from components.data.s3 import is_s3, split_url

    if not storage_path:
        folder = (artifacts / "ray").resolve()
    elif not is_s3(storage_path):
        folder = Path(storage_path).expanduser()
        folder = (folder if folder.is_absolute() else workdir / folder).resolve()
    else:
        bucket, prefix = split_url(storage_path)
        fs = s3_filesystem(s3)
        where = s3.endpoint or "AWS"
        try:
            kind = fs.get_file_info(bucket).type
        except OSError as err:
            raise StorageError(
                f"cannot reach the Ray storage {storage_path} on {where}: {err}. "
                "Check AWS_ENDPOINT_URL_S3 and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
            ) from err
        if kind == FileType.NotFound:
            raise StorageError(
                f"the bucket {bucket!r} of train.storage_path does not exist on {where}"
            )
        path = f"{bucket}/{prefix.strip('/')}".rstrip("/")
        return RunStorage(storage_path.rstrip("/"), path, fs)
    folder.mkdir(parents=True, exist_ok=True)
    return RunStorage(str(folder), str(folder), LocalFileSystem())
