"""Per-sample checks against the real shards: every manifest row's members are read and decoded.

Rows are grouped by shard (hash buckets spilled to disk, so any manifest length fits in bounded
memory) and each tar is opened and indexed once, by a thread or a Ray Data task. Nothing is
extracted to disk (members are read into memory), so a hostile member name cannot write
anywhere; shard paths are confined to the dataset root before they are opened.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pyarrow as pa

from components.checks.caption import check_caption
from components.checks.image import ImageCheck, check_image
from components.checks.reasons import Problem, Reason
from components.data.corpus.webdataset import IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION
from components.validation.grouping import HashBuckets, bucket_count, with_first_holder
from components.validation.manifest_table import ManifestTable
from components.validation.sample_checks import check_metadata

if TYPE_CHECKING:
    import pandas as pd

    from components.settings import ValidateConfig
    from components.validation.shard_runner import ShardRunner

# The WebDataset sample: an image (whatever its type: the corpus writes .png, shards from
# elsewhere may hold others), a caption and metadata.
IMAGE_MEMBER_EXTENSIONS = (*IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION)
TEXT_MEMBER_EXTENSIONS = ("txt", "json")
NEEDED_COLUMNS = ("id", "shard", "key", "image_sha256")  # what locating a sample takes


@dataclass(frozen=True)
class DecodeResult:
    problems: dict[int, Problem]  # manifest row position -> why it is rejected
    unlisted: tuple[tuple[str, Problem], ...]  # (key, problem): in a shard, not in the manifest
    normalised: dict[str, int]  # original pixel mode -> accepted samples converted from it
    n_checked: int  # rows whose members were read (rows already rejected are skipped)


@dataclass(frozen=True)
class _Row:
    pos: int  # position in the manifest
    key: str
    id: str
    sha256: str  # the manifest's image_sha256


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


def _member_key(name: str) -> str:
    """The WebDataset key of a member, as readers take it: the base name up to its first dot."""
    return name.rsplit("/", 1)[-1].partition(".")[0]


def _index(tar: tarfile.TarFile) -> tuple[dict[str, tarfile.TarInfo], str | None]:
    """Member name -> entry, plus the error that stopped the scan of a cut-off shard (the
    members before the damage are still usable)."""
    members: dict[str, tarfile.TarInfo] = {}
    try:
        for info in tar:
            members[info.name.removeprefix("./")] = info
    except (tarfile.TarError, OSError, EOFError) as err:
        return members, str(err) or type(err).__name__
    return members, None


def _check_sample(
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    scan_error: str | None,
    shard: str,
    row: _Row,
    cfg: ValidateConfig,
) -> ImageCheck:
    payload: dict[str, bytes] = {}
    image_ext = next(
        (e for e in IMAGE_MEMBER_EXTENSIONS if f"{row.key}.{e}" in members), "png"
    )  # none present: report the missing .png
    for ext in (image_ext, *TEXT_MEMBER_EXTENSIONS):
        name = f"{row.key}.{ext}"
        info = members.get(name)
        if info is None and scan_error is not None:
            detail = f"{shard} is damaged before {name}: {scan_error}"
            return ImageCheck(Problem(Reason.UNREADABLE_SHARD, detail))
        if info is None:
            return ImageCheck(Problem(Reason.MISSING_MEMBER, f"{name} is not in {shard}"))
        if not info.isfile():  # a link inside a tar can point at another member or nowhere
            return ImageCheck(Problem(Reason.IRREGULAR_MEMBER, f"{name} in {shard} is not a file"))
        try:
            handle = tar.extractfile(info)
            payload[ext] = handle.read() if handle is not None else b""
        except (tarfile.TarError, OSError, EOFError) as err:
            detail = f"cannot read {name} from {shard}: {err}"
            return ImageCheck(Problem(Reason.UNREADABLE_SHARD, detail))
    image = check_image(payload[image_ext], cfg)
    if image.problem is not None:
        return image
    problem = check_caption(payload["txt"], cfg) or check_metadata(payload["json"], row.id)
    if problem is None and hashlib.sha256(payload[image_ext]).hexdigest() != row.sha256:
        # decodes fine but is not the image the manifest describes: a stale manifest
        problem = Problem(
            Reason.CHECKSUM_MISMATCH, f"{row.key}.{image_ext} differs from image_sha256"
        )
    return ImageCheck(problem) if problem is not None else image


@dataclass(frozen=True)
class ShardJob:
    """One shard's work: the rows to check in it and every key the manifest lists in it."""

    shard: str
    path: str
    rows: tuple[_Row, ...]
    listed: frozenset[str]


@dataclass(frozen=True)
class RowVerdict:
    pos: int
    problem: Problem | None
    pixel_hash: str | None = None  # set on every accepted image
    normalised_from: str | None = None


def check_shard(job: ShardJob, cfg: ValidateConfig) -> tuple[list[RowVerdict], list[str]]:
    """Check the job's rows; also return the keys in the shard that no manifest row lists,
    which a reader of the whole shard would otherwise train on unchecked. Pure: safe in a
    thread or a Ray worker."""
    try:
        tar = tarfile.open(job.path, mode="r:*")
    except (tarfile.TarError, OSError) as err:
        problem = Problem(Reason.UNREADABLE_SHARD, f"{job.shard} is not a readable tar: {err}")
        return [RowVerdict(row.pos, problem) for row in job.rows], []
    verdicts = []
    with tar:
        members, scan_error = _index(tar)
        for row in job.rows:
            check = _check_sample(tar, members, scan_error, job.shard, row, cfg)
            verdicts.append(RowVerdict(row.pos, check.problem, check.pixel_hash,
                                       check.normalised_from))  # fmt: skip
    keys = {_member_key(name) for name, info in members.items() if info.isfile()}
    return verdicts, sorted(keys - job.listed)


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


def _jobs(root: Path, rows: list[dict], problems: dict[int, Problem]) -> Iterator[ShardJob]:
    """One bucket's rows as shard jobs; rows of a shard that may not be opened get its problem."""
    by_shard: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_shard[row["shard"]].append(row)
    for shard, members in by_shard.items():
        where = locate_shard(root, shard)
        checked = [r for r in members if not r["skip"]]
        if isinstance(where, Problem):
            problems.update((r["pos"], where) for r in checked)
            continue
        listed = frozenset(r["key"] for r in members)
        job_rows = tuple(_Row(r["pos"], r["key"], r["id"], r["sha256"]) for r in checked)
        yield ShardJob(shard, str(where), job_rows, listed)


def run_decode_checks(
    data_dir: Path,
    manifest: pd.DataFrame | ManifestTable,
    cfg: ValidateConfig,
    skip_rows: Collection[int] = (),
    scratch: Path | None = None,
    runner: ShardRunner | None = None,
) -> DecodeResult:
    """Check every manifest row not in `skip_rows` (positions already rejected elsewhere), one
    shard at a time on `runner` (default: threads in this process), in memory bounded by the
    grouping's buckets, not by the corpus.

    Duplicates are resolved in manifest order after decoding: the first accepted sample with
    given pixels keeps them, later ones are rejected as `duplicate_image`.
    """
    from components.validation.shard_runner import ThreadRunner

    root = Path(data_dir).resolve()
    table = manifest if isinstance(manifest, ManifestTable) else ManifestTable(manifest)
    runner = runner or ThreadRunner()
    problems: dict[int, Problem] = {}
    unlisted: list[tuple[str, Problem]] = []
    n_checked = 0
    pixels = HashBuckets("pixel", _PIXEL_SCHEMA, bucket_count(table.n_rows), scratch)
    with _shard_rows(table, set(skip_rows), scratch) as by_shard, pixels:
        for rows in by_shard:
            jobs = sorted(_jobs(root, rows, problems), key=lambda job: job.shard)
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
