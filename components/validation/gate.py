"""The validation gate: manifest suite + decode checks -> quarantine report -> pass or stop.

Reports are always written, pass or fail, and each file appears whole (temp file + rename):
quarantine.csv, data_docs/, then validation.json last, so its presence means the set is complete.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pyarrow import ArrowException

from components.artifacts import MANIFEST_FILE
from components.data.corpus.location import SHARDS, CorpusLocation
from components.data.errors import DataSourceError
from components.data.ray_session import ray_session
from components.data.s3 import S3Store
from components.validation.atomic import (
    atomic_write_text,
    remove_dir,
    replace_dir,
    temp_dir_beside,
)
from components.validation.errors import GateFailed
from components.validation.manifest_table import ManifestTable
from components.validation.quarantine import (
    QUARANTINE_FILE,
    Rejection,
    load_quarantined_ids,
    write_quarantine,
)
from components.validation.report import (
    DOCS_DIR,
    REPORT_FILE,
    ValidationReport,
    compose_summary,
    describe_structural,
)

if TYPE_CHECKING:
    from components.checks.reasons import Problem
    from components.data.corpus.rejections import Rejected
    from components.settings import S3Access, ValidateConfig
    from components.validation.manifest_suite import SuiteResult

__all__ = ["GateFailed", "ValidationReport", "load_quarantined_ids", "validate_corpus"]


class RayPlace(NamedTuple):
    """The Ray cluster a large corpus's shard checks run on."""

    address: str | None = None  # None: a local Ray, started only for a large corpus
    temp_dir: str = "/tmp/ray-clip-pipeline"


class _Unreadable(Exception):
    """The manifest cannot be had at all; the message is the user-facing paragraph."""


def _open_manifest(data_dir: Path) -> ManifestTable:
    path = data_dir / MANIFEST_FILE
    if not data_dir.is_dir():  # missing, or a file where the corpus folder should be
        raise _Unreadable(
            f"Data validation failed: the data directory {data_dir} does not exist. Build the "
            "corpus first (the data stage writes shards/, manifest.parquet and card.json there; "
            "`dvc pull` restores a versioned one) or point the pipeline at the right directory."
        )
    if not path.is_file():
        raise _Unreadable(
            f"Data validation failed: there is no manifest at {path}. The data stage writes it "
            "next to shards/ when it builds the corpus: build the corpus again (or `dvc pull` "
            "to restore a versioned one), then run validation again."
        )
    try:
        return ManifestTable(path)
    except Exception as err:  # any reader failure means the same thing: the file is damaged
        raise _damaged(path, err) from err


def _damaged(path: Path, err: Exception) -> _Unreadable:
    return _Unreadable(
        f"Data validation failed: {path} cannot be read as a parquet table "
        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}). "
        "It is damaged or not a manifest: rebuild the corpus (or `dvc checkout` to restore "
        "the versioned one), then run validation again."
    )


def _cell(value: object) -> str:
    """A manifest value as text for the report ('' where it is missing)."""
    import pandas as pd

    if isinstance(value, str):
        return value
    return "" if value is None or pd.isna(value) is True else str(value)  # None, NaN, pd.NA


REPORT_COLUMNS = ("id", "source", "split", "shard", "key", "image_sha256")


def _rejections(table: ManifestTable, problems: dict[int, Problem]) -> list[Rejection]:
    """The rejected rows with the cells the report names them by, read in one more pass over
    the manifest (only the problem rows are kept)."""
    rejections = []
    for chunk in table.frames(REPORT_COLUMNS) if problems else ():
        wanted = [pos for pos in chunk.index if pos in problems]
        cells = {c: chunk[c] if c in chunk.columns else None for c in REPORT_COLUMNS}

        def cell(column: str, pos: int, cells: dict = cells) -> str:
            values = cells[column]
            return "" if values is None else _cell(values.loc[pos])

        for pos in wanted:
            problem = problems[pos]
            rejections.append(
                Rejection(
                    row=pos,
                    id=cell("id", pos),
                    source=cell("source", pos),
                    split=cell("split", pos),
                    reason=problem.reason,
                    detail=problem.detail,
                    reference=f"{cell('shard', pos)}#{cell('key', pos)}",
                    sha256=cell("image_sha256", pos),
                )
            )
    return rejections


def _read_build_rejections(data_dir: Path) -> list[Rejected]:
    """What the data build refused at the source (rejected.parquet; none without user data)."""
    from components.data.corpus.rejections import REJECTED, read_rejected

    try:
        return read_rejected(data_dir)
    except Exception as err:  # any reader failure means the same thing: the file is damaged
        raise _Unreadable(
            f"Data validation failed: {data_dir / REJECTED} cannot be read "
            f"({type(err).__name__}). Rebuild the corpus, then run validation again."
        ) from err


def _publish(
    report_dir: Path, report: ValidationReport, rejections: list[Rejection], docs: Path | None
) -> None:
    write_quarantine(report_dir / QUARANTINE_FILE, rejections)
    if docs is not None:
        replace_dir(docs, report_dir / DOCS_DIR)
    else:  # docs from an earlier run would describe another corpus
        remove_dir(report_dir / DOCS_DIR)
    atomic_write_text(report_dir / REPORT_FILE, report.to_json())


@dataclass(frozen=True)
class _Findings:
    suite: SuiteResult
    problems: dict[int, Problem]  # manifest row position -> why it is rejected
    unlisted: tuple[tuple[str, Problem], ...]  # samples in shards that no row lists
    normalised: dict[str, int]
    n_decoded: int
    decode_skipped: bool  # the manifest lacks the columns that locate a sample


def _shards_elsewhere(data_dir: Path, s3: S3Access | None) -> CorpusLocation | None:
    """The corpus, when its card says its shards are at an s3:// prefix (data.output)."""
    try:
        location = CorpusLocation.of(data_dir, s3)
        if location.shards_uri:  # one store for every shard: unreachable is not N bad rows
            S3Store(location.s3).reachable(f"{location.shards_uri}/{SHARDS}/")
    except DataSourceError as err:
        raise _Unreadable(f"The corpus in {data_dir} cannot be validated: {err}.") from None
    return location if location.shards_uri else None


def _inspect(
    data_dir: Path,
    table: ManifestTable,
    cfg: ValidateConfig,
    docs: Path,
    ray: RayPlace,
    shards: CorpusLocation | None,
) -> _Findings:
    """Run the manifest suite, then decode every row it did not already reject: on Ray Data
    from validate.decode_on_ray_from_rows rows, else on threads of this process."""
    from components.validation.decode_checks import NEEDED_COLUMNS, run_decode_checks
    from components.validation.manifest_suite import run_manifest_suite
    from components.validation.shard_runner import RayRunner, ThreadRunner

    scratch = docs.parent  # the grouping's spill files: beside the reports, not in /tmp
    suite = run_manifest_suite(table, cfg, docs, scratch)
    problems = dict(suite.row_problems)
    if not set(NEEDED_COLUMNS) <= set(table.columns):
        return _Findings(suite, problems, (), {}, 0, decode_skipped=table.n_rows > 0)
    on_ray = cfg.decode_on_ray_from_rows is not None and table.n_rows >= cfg.decode_on_ray_from_rows
    with ray_session(*ray) if on_ray else nullcontext():
        runner = RayRunner() if on_ray else ThreadRunner()
        decoded = run_decode_checks(data_dir, table, cfg, problems.keys(), scratch, runner, shards)
    problems |= decoded.problems
    return _Findings(
        suite, problems, decoded.unlisted, decoded.normalised, decoded.n_checked, False
    )


def _report(
    data_dir: Path,
    table: ManifestTable,
    found: _Findings,
    refused: list[Rejected],
    cfg: ValidateConfig,
    report_dir: Path,
    started: float,
) -> tuple[ValidationReport, list[Rejection]]:
    from components.validation.manifest_suite import MANIFEST_COLUMNS

    missing = set(MANIFEST_COLUMNS) - set(table.columns)
    limits: dict[str, Any] = cfg.model_dump()
    structural = tuple(
        describe_structural(o, limits)
        for o in found.suite.structural_failures
        if not (o.error and o.column in missing)  # already said by the schema failure
    )
    rejections = _rejections(table, found.problems) + [
        Rejection(table.n_rows + n, key, "", "", problem.reason, problem.detail, key)
        for n, (key, problem) in enumerate(found.unlisted)
    ]
    # what the data build refused at the source, last: no id, they never entered the corpus
    first = table.n_rows + len(found.unlisted)
    rejections += [
        Rejection(first + n, "", "user", "", r.reason, r.detail, r.reference, r.sha256 or "")
        for n, r in enumerate(refused)
    ]
    reasons = dict(Counter(r.reason.value for r in rejections).most_common())
    n_samples = table.n_rows + len(found.unlisted) + len(refused)
    n_rejected = len(rejections)
    fraction = n_rejected / n_samples if n_samples else 0.0
    n_normalised = sum(found.normalised.values())
    quarantine_csv = str(report_dir / QUARANTINE_FILE)
    docs_index = str(report_dir / DOCS_DIR / "index.html")
    summary = compose_summary(
        data_dir=str(data_dir),
        n_samples=n_samples,
        decode_skipped=found.decode_skipped,
        n_rejected=n_rejected,
        n_build_rejected=len(refused),
        reasons=reasons,
        n_normalised=n_normalised,
        max_fraction=cfg.max_rejected_fraction,
        structural=structural,
        quarantine_csv=quarantine_csv,
        docs_index=docs_index,
    )
    report = ValidationReport(
        data_dir=str(data_dir),
        n_rows=table.n_rows,
        n_unlisted=len(found.unlisted),
        n_build_rejected=len(refused),
        n_decoded=found.n_decoded,
        n_rejected=n_rejected,
        rejected_fraction=round(fraction, 6),
        max_rejected_fraction=cfg.max_rejected_fraction,
        reasons=reasons,
        n_normalised=n_normalised,
        normalised=found.normalised,
        suite_success=found.suite.success,
        expectations=found.suite.outcomes,
        structural_failures=structural,
        passed=not structural and fraction <= cfg.max_rejected_fraction,
        summary=summary,
        quarantine_csv=quarantine_csv,
        data_docs_index=docs_index,
        seconds=round(time.perf_counter() - started, 3),
    )
    return report, rejections


def _unreadable_report(
    data_dir: Path, cfg: ValidateConfig, report_dir: Path, message: str, started: float
) -> ValidationReport:
    return ValidationReport(
        data_dir=str(data_dir),
        n_rows=0,
        n_unlisted=0,
        n_build_rejected=0,
        n_decoded=0,
        n_rejected=0,
        rejected_fraction=0.0,
        max_rejected_fraction=cfg.max_rejected_fraction,
        reasons={},
        n_normalised=0,
        normalised={},
        suite_success=False,
        expectations=(),
        structural_failures=(message,),
        passed=False,
        summary=message,
        quarantine_csv=str(report_dir / QUARANTINE_FILE),
        data_docs_index=None,
        seconds=round(time.perf_counter() - started, 3),
    )


def validate_corpus(
    data_dir: Path,
    cfg: ValidateConfig,
    report_dir: Path,
    ray: RayPlace | None = None,
    s3: S3Access | None = None,
) -> ValidationReport:
    """Validate the corpus in `data_dir`, write the reports into `report_dir`, and return the
    report; raise GateFailed (after writing them) when the corpus must not be trained on.
    A large corpus's shards are checked on the Ray cluster `ray` names (default: a local Ray);
    shards its card places on S3 are read from there with `s3`."""
    started = time.perf_counter()
    data_dir, report_dir = Path(data_dir), Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    try:
        table = _open_manifest(data_dir)
        refused = _read_build_rejections(data_dir)
        shards = _shards_elsewhere(data_dir, s3)
    except _Unreadable as err:
        report = _unreadable_report(data_dir, cfg, report_dir, str(err), started)
        _publish(report_dir, report, [], None)
        raise GateFailed(report.summary, report) from None

    docs = temp_dir_beside(report_dir / DOCS_DIR)  # GX builds here; swapped in when complete
    try:
        try:
            found = _inspect(data_dir, table, cfg, docs, ray or RayPlace(), shards)
            report, rejections = _report(data_dir, table, found, refused, cfg, report_dir, started)
        except ArrowException as err:  # a row group past the footer is damaged
            message = str(_damaged(data_dir / MANIFEST_FILE, err))
            report, rejections = _unreadable_report(data_dir, cfg, report_dir, message, started), []
            docs_made = None
        else:
            docs_made = docs
        _publish(report_dir, report, rejections, docs_made)
    finally:
        shutil.rmtree(docs, ignore_errors=True)  # only still there if something failed
    if not report.passed:
        raise GateFailed(report.summary, report)
    return report
