"""Per-sample checks against the real shards: every manifest row's members are read and decoded.

Rows are grouped by shard (hash buckets spilled to disk, so any manifest length fits in bounded
memory) and each tar is opened and indexed once, by a thread or a Ray Data task. Nothing is
extracted to disk (members are read into memory), so a hostile member name cannot write
anywhere; shard paths are confined to the dataset root before they are opened.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pyarrow as pa

from components.checks.reasons import Problem, Reason
from components.data.corpus.location import SHARDS, CorpusLocation
from components.data.errors import DataSourceError
from components.validation.grouping import HashBuckets, bucket_count, with_first_holder
from components.validation.manifest_table import ManifestTable
from components.validation.shard_check import ShardJob, ShardRow
from components.validation.shard_runner import ShardRunner, ThreadRunner

if TYPE_CHECKING:
    import pandas as pd

    from components.settings import ValidateConfig

NEEDED_COLUMNS = ("id", "shard", "key", "image_sha256")  # what locating a sample takes


@dataclass(frozen=True)
class DecodeResult:
    problems: dict[int, Problem]  # manifest row position -> why it is rejected
    unlisted: tuple[tuple[str, Problem], ...]  # (key, problem): in a shard, not in the manifest
    normalised: dict[str, int]  # original pixel mode -> accepted samples converted from it
    n_checked: int  # rows whose members were read (rows already rejected are skipped)


def locate_shard(root: Path, shard: object) -> Path | Problem:
    """The shard's real path, or why it may not be opened. `root` must be resolved."""
    if not isinstance(shard, str) or not shard.strip():
        return Problem(Reason.MISSING_FIELD, "manifest 'shard' is empty")
    relative = PurePosixPath(shard)
    if relative.is_absolute() or "\\" in shard:  # the contract says POSIX, relative
        return Problem(Reason.PATH_ESCAPE, f"shard path {shard!r} is not relative to the dataset")
    if ".." in relative.parts:
        return Problem(Reason.PATH_ESCAPE, f"shard path {shard!r} climbs out with '..'")
    resolved = (root / relative).resolve()  # follows symlinks, wherever they point
    if not resolved.is_relative_to(root):
        return Problem(Reason.PATH_ESCAPE, f"shard path {shard!r} is a link to {resolved}")
    if not resolved.is_file():
        return Problem(Reason.MISSING_SHARD, f"shard {shard!r} does not exist")
    return resolved


_LOCATE_SCHEMA = pa.schema(
    [("shard", pa.string()), ("pos", pa.int64()), ("key", pa.string()), ("id", pa.string()),
     ("sha256", pa.string()), ("skip", pa.bool_())]
)  # fmt: skip
_PIXEL_SCHEMA = pa.schema(
    [("pixel", pa.string()), ("pos", pa.int64()), ("id", pa.string()),
     ("normalised_from", pa.string())]
)  # fmt: skip


def _shard_rows(
    table: ManifestTable, skip_rows: Collection[int], scratch: Path | None
) -> HashBuckets:
    """Every row (rejected ones too: their keys are still listed) bucketed by shard, so each
    shard's rows are gathered whatever the manifest's order."""
    buckets = HashBuckets("shard", _LOCATE_SCHEMA, bucket_count(table.n_rows), scratch)
    for chunk in table.frames(NEEDED_COLUMNS):
        columns = (chunk["shard"], chunk["key"], chunk["id"], chunk["image_sha256"])
        buckets.add(
            {"shard": shard if isinstance(shard, str) else "", "pos": int(pos), "key": str(key),
             "id": str(sample_id), "sha256": str(sha256), "skip": int(pos) in skip_rows}
            for pos, shard, key, sample_id, sha256 in zip(chunk.index, *columns, strict=True)
        )  # fmt: skip
    return buckets


def locate_remote_shard(shards: CorpusLocation, shard: object) -> str | Problem:
    """The URL of a shard kept at the corpus's `data.output` prefix, or why it may not be
    opened (whether it exists is found when it is read)."""
    if not isinstance(shard, str) or not shard.strip():
        return Problem(Reason.MISSING_FIELD, "manifest 'shard' is empty")
    try:
        shards.path(shard)
    except DataSourceError:
        return Problem(Reason.PATH_ESCAPE, f"shard path {shard!r} is not a name inside the corpus")
    if PurePosixPath(shard).parts[0] != SHARDS:
        return Problem(Reason.PATH_ESCAPE, f"shard path {shard!r} is not under {SHARDS}/")
    return shards.url(shard)


def _jobs(
    root: Path, rows: list[dict], problems: dict[int, Problem], shards: CorpusLocation | None
) -> Iterator[ShardJob]:
    """One bucket's rows as shard jobs; rows of a shard that may not be opened get its problem."""
    by_shard: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_shard[row["shard"]].append(row)
    for shard, members in by_shard.items():
        where = locate_shard(root, shard) if shards is None else locate_remote_shard(shards, shard)
        checked = [r for r in members if not r["skip"]]
        if isinstance(where, Problem):
            problems.update((r["pos"], where) for r in checked)
            continue
        listed = frozenset(r["key"] for r in members)
        job_rows = tuple(ShardRow(r["pos"], r["key"], r["id"], r["sha256"]) for r in checked)
        yield ShardJob(shard, str(where), job_rows, listed, shards)


def run_decode_checks(
    data_dir: Path,
    manifest: pd.DataFrame | ManifestTable,
    cfg: ValidateConfig,
    skip_rows: Collection[int] = (),
    scratch: Path | None = None,
    runner: ShardRunner | None = None,
    shards: CorpusLocation | None = None,
) -> DecodeResult:
    """Check every manifest row not in `skip_rows` (positions already rejected elsewhere), one
    shard at a time on `runner` (default: threads in this process), in memory bounded by the
    grouping's buckets, not by the corpus. `shards`: the corpus keeps its shards at an s3://
    prefix (its card's data.output), where each job reads its shard itself.

    Duplicates are resolved in manifest order after decoding: the first accepted sample with
    given pixels keeps them, later ones are rejected as `duplicate_image`.
    """
    root = Path(data_dir).resolve()
    table = manifest if isinstance(manifest, ManifestTable) else ManifestTable(manifest)
    runner = runner or ThreadRunner()
    problems: dict[int, Problem] = {}
    unlisted: list[tuple[str, Problem]] = []
    n_checked = 0
    pixels = HashBuckets("pixel", _PIXEL_SCHEMA, bucket_count(table.n_rows), scratch)
    with _shard_rows(table, set(skip_rows), scratch) as by_shard, pixels:
        for rows in by_shard:
            jobs = sorted(_jobs(root, rows, problems, shards), key=lambda job: job.shard)
            for job, (verdicts, orphans) in zip(jobs, runner.run(jobs, cfg), strict=True):
                n_checked += len(verdicts)
                detail = f"in {job.shard} but listed by no manifest row"
                unlisted += [(key, Problem(Reason.NOT_IN_MANIFEST, detail)) for key in orphans]
                ids = {row.pos: row.id for row in job.rows}
                for verdict in verdicts:
                    if verdict.problem is not None:
                        problems[verdict.pos] = verdict.problem
                        continue
                    assert verdict.pixel_hash is not None  # set on every accepted image
                    pixels.add([{"pixel": verdict.pixel_hash, "pos": verdict.pos,
                                 "id": ids[verdict.pos],
                                 "normalised_from": verdict.normalised_from}])  # fmt: skip
        normalised: Counter[str] = Counter()
        for rows in pixels:
            for row, holder in with_first_holder(rows, "pixel"):
                if holder is not row:
                    detail = f"same pixels as {holder['id']!r}"
                    problems[row["pos"]] = Problem(Reason.DUPLICATE_IMAGE, detail)
                elif row["normalised_from"] is not None:
                    normalised[row["normalised_from"]] += 1
    return DecodeResult(
        dict(sorted(problems.items())), tuple(unlisted), dict(sorted(normalised.items())),
        n_checked,
    )  # fmt: skip
