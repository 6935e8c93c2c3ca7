"""The quarantine report: one CSV row per rejected sample, read back by training and evaluation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from components.validation.atomic import atomic_write_text
from components.validation.reasons import Reason

QUARANTINE_FILE = "quarantine.csv"
COLUMNS = ("id", "source", "split", "reason", "detail")


@dataclass(frozen=True)
class Rejection:
    """Why one manifest row is kept out of training. `row` is its position in the manifest."""

    row: int
    id: str
    source: str
    split: str
    reason: Reason
    detail: str


def write_quarantine(path: Path, rejections: Iterable[Rejection]) -> None:
    """Write the CSV atomically; the header is written even when nothing was rejected, so a
    reader can tell 'validated, all clean' from 'not validated'."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in sorted(rejections, key=lambda r: r.row):
        writer.writerow((r.id, r.source, r.split, r.reason.value, r.detail))
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
