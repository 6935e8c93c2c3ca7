"""One shard's checks: its tar opened and indexed once, every listed row's members read and
decoded, the keys no manifest row lists found. Pure functions of a job: run by a thread of the
gate or a Ray Data task (shard_runner.py). Nothing is extracted to disk (members are read into
memory), so a hostile member name cannot write anywhere; the job's path was confined to the
dataset root by the caller."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from components.checks.caption import check_caption
from components.checks.image import ImageCheck, check_image
from components.checks.reasons import Problem, Reason
from components.data.corpus.location import CorpusLocation
from components.data.corpus.webdataset import IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION
from components.data.errors import DataSourceError, one_line
from components.validation.sample_checks import check_metadata

if TYPE_CHECKING:
    from components.settings import ValidateConfig

# The WebDataset sample: an image (whatever its type: the corpus writes .png, shards from
# elsewhere may hold others), a caption and metadata.
IMAGE_MEMBER_EXTENSIONS = (*IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION)
TEXT_MEMBER_EXTENSIONS = ("txt", "json")


@dataclass(frozen=True)
class ShardRow:
    pos: int  # position in the manifest
    key: str
    id: str
    sha256: str  # the manifest's image_sha256


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
    row: ShardRow,
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
    path: str  # a local path, or the shard's URL when `location` holds it
    rows: tuple[ShardRow, ...]
    listed: frozenset[str]
    location: CorpusLocation | None = None  # a corpus whose shards are on S3


SPOOL_BYTES = 64 * 2**20  # a shard read from S3 stays in memory up to this, then on local disk


def _open_tar(job: ShardJob) -> tuple[tarfile.TarFile, IO[bytes] | None]:
    """The job's shard as a random-access tar. A shard on S3 is copied once, by one streaming
    GET, into a spooled file (memory, then local disk): a tar read in place would cost a
    ranged GET per member."""
    if job.location is None:
        return tarfile.open(job.path, mode="r:*"), None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        with job.location.open_stream(job.shard) as stream:
            shutil.copyfileobj(stream, spool, 8 * 2**20)
        spool.seek(0)
        return tarfile.open(fileobj=spool, mode="r:*"), spool  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise


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
        tar, spool = _open_tar(job)
    except DataSourceError as err:  # not on S3, or not readable there
        problem = Problem(Reason.MISSING_SHARD, one_line(err))
        return [RowVerdict(row.pos, problem) for row in job.rows], []
    except (tarfile.TarError, OSError) as err:
        problem = Problem(Reason.UNREADABLE_SHARD, f"{job.shard} is not a readable tar: {err}")
        return [RowVerdict(row.pos, problem) for row in job.rows], []
    verdicts = []
    with tar, spool or nullcontext():
        members, scan_error = _index(tar)
        for row in job.rows:
            check = _check_sample(tar, members, scan_error, job.shard, row, cfg)
            verdicts.append(RowVerdict(row.pos, check.problem, check.pixel_hash,
                                       check.normalised_from))  # fmt: skip
    keys = {_member_key(name) for name, info in members.items() if info.isfile()}
    return verdicts, sorted(keys - job.listed)
