"""The quarantine report: one CSV row per rejected sample, read back by training and evaluation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from components.checks.reasons import Reason
from components.validation.atomic import atomic_write_text

QUARANTINE_FILE = "quarantine.csv"
# reference: where the sample came from (shard#key, or what a user's table gave); sha256: of the
# image bytes, where they were read. A rejected sample's bytes are never part of the report.
COLUMNS = ("id", "source", "split", "reason", "detail", "reference", "sha256")


@dataclass(frozen=True)
class Rejection:
    """Why one sample is kept out of training. `row` orders the report: the manifest position,
    then the unlisted shard samples, then what the data build refused (those have no id: they
    never entered the corpus)."""

    row: int
    id: str
    source: str
    split: str
    reason: Reason
    detail: str
    reference: str = ""
    sha256: str = ""


def write_quarantine(path: Path, rejections: Iterable[Rejection]) -> None:
    """Write the CSV atomically; the header is written even when nothing was rejected, so a
    reader can tell 'validated, all clean' from 'not validated'."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(rejections, key=lambda r: r.row):
        writer.writerow((r.id, r.source, r.split, r.reason.value, r.detail, r.reference, r.sha256))
    atomic_write_text(path, buffer.getvalue())


def load_quarantined_ids(report_dir: Path) -> set[str]:
    """The ids training and evaluation must skip. No report yet (validation not run) means
    nothing is quarantined; a report without the expected header is an error, not 'clean'."""
    path = Path(report_dir) / QUARANTINE_FILE
    if not path.is_file():
        return set()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "id" not in reader.fieldnames:
            raise ValueError(f"{path} is not a quarantine report (no 'id' column)")
        return {row["id"] for row in reader if row["id"]}
