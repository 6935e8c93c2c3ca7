"""Has any source changed since the corpus was built? The `watch-data` flow asks this every few
minutes and announces a change once (an event that starts a retrain).

Two records under the workdir, each a source fingerprint (sources/fingerprint.py) with a time:
- the build's: what the sources held when the corpus was last built (written by the build);
- the watch's: what it last announced (so a change is announced once, not at every look while
  the retrain it started is still running).
The later of the two is what "now" is compared with. Neither there: a corpus built before the
records existed, or none at all; that is announced too, and the retrain decides (an unchanged
corpus ends as "nothing changed since version N", without training).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from components.artifacts import SOURCES_ANNOUNCED, SOURCES_BUILT_FROM
from components.settings import BuildInputs


@dataclass(frozen=True)
class SourceChanges:
    fingerprint: dict[str, str]  # source -> its fingerprint now
    changed: tuple[str, ...]  # sources added, removed or changed since `since`
    since: str  # what it was compared with, for people

    @property
    def any(self) -> bool:
        return bool(self.changed)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record.get("fingerprint"), dict) else None


def _write(path: Path, fingerprint: dict[str, str]) -> None:
    """Whole or not at all: a record cut short would read as 'never recorded'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"at": time.time(), "fingerprint": fingerprint}, indent=2))
    partial.replace(path)


def record_built_from(workdir: Path, fingerprint: dict[str, str]) -> None:
    _write(SOURCES_BUILT_FROM.path(workdir), fingerprint)


def record_announced(workdir: Path, changes: SourceChanges) -> None:
    _write(SOURCES_ANNOUNCED.path(workdir), changes.fingerprint)


def look_for_changes(cfg: BuildInputs) -> SourceChanges:
    """The sources now against the later record. Raises DataSourceError when a source cannot
    be seen (an S3 prefix that does not answer): nothing is announced then."""
    from components.data.sources.fingerprint import source_fingerprint

    now = source_fingerprint(cfg.data, cfg.s3)
    workdir = cfg.paths.workdir
    kinds = (("the last build", SOURCES_BUILT_FROM), ("the last announcement", SOURCES_ANNOUNCED))
    records = [
        (record["at"], label, record["fingerprint"])
        for label, artifact in kinds
        if (record := _read(artifact.path(workdir)))
    ]
    if not records:
        return SourceChanges(now, tuple(sorted(now)), "nothing (no record of a build)")
    at, label, before = max(records)
    changed = tuple(k for k in sorted(set(now) | set(before)) if now.get(k) != before.get(k))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    return SourceChanges(now, changed, f"{label} ({stamp})")
