"""The validation report (validation.json) and the sentences the gate shows to people."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from components.validation.manifest_suite import ExpectationOutcome

REPORT_FILE = "validation.json"
DOCS_DIR = "data_docs"


@dataclass(frozen=True)
class ValidationReport:
    data_dir: str
    n_rows: int  # manifest rows
    n_unlisted: int  # samples found in shards that no manifest row lists (all rejected)
    n_build_rejected: int  # user samples the data build refused at the source (all rejected)
    n_decoded: int  # rows whose shard members were read and decoded
    n_rejected: int
    rejected_fraction: float  # n_rejected / (n_rows + n_unlisted + n_build_rejected)
    max_rejected_fraction: float
    reasons: dict[str, int]  # reason code -> rejected samples, most frequent first
    n_normalised: int  # accepted samples whose pixels needed converting to RGB
    normalised: dict[str, int]  # original mode -> count
    suite_success: bool  # every GX expectation passed (row-level failures included)
    expectations: tuple[ExpectationOutcome, ...]
    structural_failures: tuple[str, ...]  # one sentence each; any of them fails the gate
    passed: bool
    summary: str
    quarantine_csv: str
    data_docs_index: str | None
    seconds: float

    @property
    def n_accepted(self) -> int:
        return self.n_rows + self.n_unlisted + self.n_build_rejected - self.n_rejected

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def reasons_phrase(reasons: dict[str, int]) -> str:
    """'5 truncated, 2 empty_caption' (most frequent first)."""
    return ", ".join(f"{n:,} {reason}" for reason, n in reasons.items())


def describe_structural(outcome: ExpectationOutcome, limits: dict[str, Any]) -> str:
    """One clause for a failed structural expectation (or one GX could not evaluate)."""
    if outcome.error:
        where = f" on column {outcome.column!r}" if outcome.column else ""
        return f"{outcome.name}{where} could not be evaluated ({outcome.error})"
    if outcome.name == "expect_table_columns_to_match_set":
        return outcome.observed or "its columns differ from the contract"
    if outcome.name == "expect_table_row_count_to_be_between":
        cap = limits.get("max_rows")
        upper = f"..max_rows={cap:,}" if cap is not None else " (no upper limit)"
        lower = f"validate.min_rows={limits['min_rows']:,}"
        return f"it has {outcome.observed} rows, outside {lower}{upper}"
    examples = ", ".join(outcome.unexpected_sample)
    knob = f"known_{outcome.column}s"
    verb = "has" if outcome.unexpected_count == 1 else "have"
    return (
        f"{_count(outcome.unexpected_count, 'row')} {verb} a {outcome.column} outside "
        f"validate.{knob} ({', '.join(limits[knob])}): {examples}"
    )


def compose_summary(
    *,
    data_dir: str,
    n_samples: int,
    decode_skipped: bool,
    n_rejected: int,
    n_build_rejected: int = 0,
    reasons: dict[str, int],
    n_normalised: int,
    max_fraction: float,
    structural: tuple[str, ...],
    quarantine_csv: str,
    docs_index: str | None,
) -> str:
    """The gate's message: one paragraph saying what was found, where to look, what to do."""
    fraction = n_rejected / n_samples if n_samples else 0.0
    rejected = f"{n_rejected:,} of {n_samples:,} samples rejected ({fraction:.2%})"
    if n_rejected:
        rejected += f": {reasons_phrase(reasons)}"
    if n_build_rejected:
        rejected += f" ({n_build_rejected:,} refused by the data build, their bytes never stored)"
    if decode_skipped:
        rejected += " (the per-sample checks did not run: they need id, shard, key, image_sha256)"
    docs = f" and the great-expectations Data Docs at {docs_index}" if docs_index else ""
    where = f"Each rejected sample is listed with its reason in {quarantine_csv}{docs}."
    if structural:
        return (
            f"Data validation failed for {data_dir}: the manifest is structurally wrong: "
            f"{'; '.join(structural)}. {rejected}. {where} Fix the data build and rebuild the "
            "corpus (if a new split or source is intended, add it to validate.known_splits or "
            "validate.known_sources in params.yaml), then run validation again."
        )
    if fraction > max_fraction:
        return (
            f"Data validation failed for {data_dir}: {rejected}, above the limit of "
            f"{max_fraction:.2%} (validate.max_rejected_fraction). {where} Fix or drop those "
            "samples at the source and rebuild the corpus, or, if losing them is acceptable, "
            "raise validate.max_rejected_fraction in params.yaml; then run validation again."
        )
    normalised = f"; {_count(n_normalised, 'image')} normalised to RGB" if n_normalised else ""
    return (
        f"Data validation passed for {data_dir}: {rejected}, within the limit of "
        f"{max_fraction:.2%}{normalised}. Training skips the samples listed in {quarantine_csv}."
    )
