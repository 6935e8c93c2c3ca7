"""Per-sample checks against the real shards: every manifest row's members are read and decoded.

Rows are grouped by shard so each tar is opened and indexed once. Nothing is extracted to disk
(members are read into memory), so a hostile member name cannot write anywhere; shard paths are
confined to the dataset root before they are opened.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from components.checks.caption import check_caption
from components.checks.image import ImageCheck, check_image
from components.checks.reasons import Problem, Reason
from components.data.corpus.webdataset import IMAGE_EXTENSIONS, UNKNOWN_IMAGE_EXTENSION
from components.validation.sample_checks import check_metadata

if TYPE_CHECKING:
    import pandas as pd

    from components.settings import ValidateConfig

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


def _check_shard(
    path: Path, shard: str, rows: list[_Row], listed: set[str], cfg: ValidateConfig
) -> tuple[dict[int, ImageCheck], list[str]]:
    """Check `rows` of one shard; also return the keys in it that no manifest row lists
    (`listed`), which a reader of the whole shard would otherwise train on unchecked."""
    try:
        tar = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError) as err:
        problem = Problem(Reason.UNREADABLE_SHARD, f"{shard} is not a readable tar: {err}")
        return {row.pos: ImageCheck(problem) for row in rows}, []
    with tar:
        members, scan_error = _index(tar)
        checks = {row.pos: _check_sample(tar, members, scan_error, shard, row, cfg) for row in rows}
    keys = {_member_key(name) for name, info in members.items() if info.isfile()}
    return checks, sorted(keys - listed)


def run_decode_checks(
    data_dir: Path,
    manifest: pd.DataFrame,
    cfg: ValidateConfig,
    skip_rows: Collection[int] = (),
) -> DecodeResult:
    """Check every manifest row not in `skip_rows` (positions already rejected elsewhere).

    Duplicates are resolved in manifest order after decoding: the first accepted sample with
    given pixels keeps them, later ones are rejected as `duplicate_image`.
    """
    root = Path(data_dir).resolve()
    by_shard: dict[str, list[_Row]] = defaultdict(list)
    listed: dict[str, set[str]] = defaultdict(set)  # every key the manifest puts in a shard
    problems: dict[int, Problem] = {}
    located: dict[str, Path | Problem] = {}
    columns = zip(
        manifest["shard"], manifest["key"], manifest["id"], manifest["image_sha256"], strict=True
    )
    for pos, (shard, key, sample_id, sha256) in enumerate(columns):
        listed[shard].add(str(key))
        if pos in skip_rows:
            continue
        if shard not in located:
            located[shard] = locate_shard(root, shard)
        where = located[shard]
        if isinstance(where, Problem):
            problems[pos] = where
        else:
            by_shard[shard].append(_Row(pos, str(key), str(sample_id), str(sha256)))

    checks: dict[int, ImageCheck] = {}
    unlisted: list[tuple[str, Problem]] = []
    for shard, rows in by_shard.items():
        path = located[shard]
        assert isinstance(path, Path)  # rows are only grouped under shards that were found
        shard_checks, orphans = _check_shard(path, shard, rows, listed[shard], cfg)
        checks |= shard_checks
        detail = f"in {shard} but listed by no manifest row"
        unlisted += [(key, Problem(Reason.NOT_IN_MANIFEST, detail)) for key in orphans]

    first_with: dict[str, str] = {}  # pixel hash -> id of the sample that keeps it
    normalised: Counter[str] = Counter()
    for pos in sorted(checks):
        check = checks[pos]
        if check.problem is not None:
            problems[pos] = check.problem
            continue
        assert check.pixel_hash is not None  # set on every accepted image
        if check.pixel_hash in first_with:
            detail = f"same pixels as {first_with[check.pixel_hash]!r}"
            problems[pos] = Problem(Reason.DUPLICATE_IMAGE, detail)
            continue
        first_with[check.pixel_hash] = str(manifest["id"].iat[pos])
        if check.normalised_from is not None:
            normalised[check.normalised_from] += 1
    return DecodeResult(problems, tuple(unlisted), dict(sorted(normalised.items())), len(checks))
