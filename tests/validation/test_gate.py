"""The whole gate: corpora on disk -> reports -> pass, or GateFailed with a readable message."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest

from components.settings import ValidateConfig
from components.validation.gate import load_quarantined_ids, validate_corpus
from components.validation.quarantine import COLUMNS
from components.validation.report import ValidationReport

from .corpus_factory import Sample, good_samples, write_corpus
from .validation_support import BadCorpus, gate_failure


def _quarantine(report_dir: Path) -> list[dict[str, str]]:
    with (report_dir / "quarantine.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _leftovers(report_dir: Path) -> list[str]:
    return sorted(p.name for p in report_dir.iterdir() if p.name.startswith("."))


# ---- a clean corpus ---------------------------------------------------------------------------


def test_clean_corpus_passes_with_no_rejections(
    clean_corpus: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    cfg = lenient_config.model_copy(update={"max_rejected_fraction": 0.0})
    report = validate_corpus(clean_corpus, cfg, tmp_path)
    assert report.passed and report.suite_success
    assert (report.n_rows, report.n_rejected, report.n_normalised) == (40, 0, 0)
    assert report.reasons == {} and report.structural_failures == ()
    assert "passed" in report.summary
    assert (tmp_path / "quarantine.csv").read_text() == ",".join(COLUMNS) + "\n"
    assert load_quarantined_ids(tmp_path) == set()
    assert json.loads((tmp_path / "validation.json").read_text())["passed"] is True
    assert (tmp_path / "data_docs" / "index.html").is_file()
    assert _leftovers(tmp_path) == []  # no temp files or folders stay behind


def test_rerun_replaces_the_previous_reports(
    clean_corpus: Path, bad_corpus: BadCorpus, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    validate_corpus(bad_corpus.data_dir, lenient_config, tmp_path)
    assert load_quarantined_ids(tmp_path)
    validate_corpus(clean_corpus, lenient_config, tmp_path)
    assert load_quarantined_ids(tmp_path) == set()
    pages = list((tmp_path / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == 1  # the old run's page went with the old folder
    assert _leftovers(tmp_path) == []


# ---- a corpus with every kind of bad sample ---------------------------------------------------


def test_each_bad_sample_is_quarantined_with_its_reason(
    bad_run: tuple[ValidationReport, Path], bad_corpus: BadCorpus
) -> None:
    report, report_dir = bad_run
    found = {row["id"]: row["reason"] for row in _quarantine(report_dir)}
    assert found == bad_corpus.expected
    assert len(set(bad_corpus.expected.values())) >= 20  # distinct reasons exercised


def test_quarantine_rows_are_complete(bad_run: tuple[ValidationReport, Path]) -> None:
    _, report_dir = bad_run
    rows = _quarantine(report_dir)
    assert all(row["detail"] for row in rows)
    listed = [row for row in rows if row["reason"] != "not_in_manifest"]
    assert all(row["source"] == "noto" and row["split"] == "train" for row in listed)


def test_normalised_and_good_samples_are_accepted(
    bad_run: tuple[ValidationReport, Path], bad_corpus: BadCorpus
) -> None:
    report, report_dir = bad_run
    quarantined = load_quarantined_ids(report_dir)
    assert quarantined == set(bad_corpus.expected)
    assert not quarantined & (bad_corpus.good | set(bad_corpus.normalised))
    modes = sorted(bad_corpus.normalised.values())
    assert report.normalised == {mode: 1 for mode in modes}
    assert report.n_normalised == len(modes)


def test_report_counts(bad_run: tuple[ValidationReport, Path], bad_corpus: BadCorpus) -> None:
    report, report_dir = bad_run
    n_bad = len(bad_corpus.expected)
    assert report.n_unlisted == 1  # the sample in a shard with no manifest row
    assert report.n_rows == len(bad_corpus.good) + len(bad_corpus.normalised) + n_bad - 1
    assert report.n_rejected == n_bad and sum(report.reasons.values()) == n_bad
    assert report.rejected_fraction == pytest.approx(n_bad / (report.n_rows + 1), abs=1e-6)
    assert report.passed  # the lenient threshold (1.0) lets it through
    saved = json.loads((report_dir / "validation.json").read_text())
    assert saved["reasons"] == report.reasons and saved["n_rejected"] == n_bad
    assert {e["name"] for e in saved["expectations"]} >= {"expect_column_values_to_be_unique"}


def test_above_the_threshold_the_gate_fails_after_writing_reports(
    bad_corpus: BadCorpus, strict_config: ValidateConfig, tmp_path: Path
) -> None:
    error = gate_failure(bad_corpus.data_dir, strict_config, tmp_path)
    message = str(error)
    n_bad = len(bad_corpus.expected)
    assert f"{n_bad:,} of {error.report.n_rows + 1:,} samples rejected" in message
    assert "2.00%" in message and "validate.max_rejected_fraction" in message
    assert "3 path_escape" in message and "1 zero_bytes" in message
    assert str(tmp_path / "quarantine.csv") in message and "\n" not in message
    assert not error.report.passed and error.report.structural_failures == ()
    assert len(_quarantine(tmp_path)) == n_bad
    assert json.loads((tmp_path / "validation.json").read_text())["passed"] is False
    assert (tmp_path / "data_docs" / "index.html").is_file()
    copy = pickle.loads(pickle.dumps(error))  # Prefect and Ray ship task errors this way
    assert str(copy) == message and copy.report == error.report


# ---- structural failures ----------------------------------------------------------------------


def _rewrite_manifest(data_dir: Path, change) -> None:
    path = data_dir / "manifest.parquet"
    change(pd.read_parquet(path)).to_parquet(path, index=False)


@pytest.fixture
def corpus_copy(clean_corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean_corpus, tmp_path / "data"))


def test_unknown_split_is_structural(
    corpus_copy: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[0, "split"] = "test"
        return frame

    _rewrite_manifest(corpus_copy, change)
    error = gate_failure(corpus_copy, lenient_config, tmp_path / "report")
    message = str(error)
    assert "structurally wrong" in message and "'test'" in message
    assert "validate.known_splits" in message
    assert [row["reason"] for row in _quarantine(tmp_path / "report")] == ["unknown_split"]


def test_missing_column_is_structural(
    corpus_copy: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    _rewrite_manifest(corpus_copy, lambda frame: frame.drop(columns=["height", "key"]))
    error = gate_failure(corpus_copy, lenient_config, tmp_path / "report")
    assert "missing columns: height, key" in str(error)
    assert "per-sample checks did not run" in str(error)
    assert error.report.structural_failures == ("missing columns: height, key",)
    assert error.report.n_decoded == 0


def test_missing_optional_column_still_checks_samples(
    corpus_copy: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    _rewrite_manifest(corpus_copy, lambda frame: frame.drop(columns=["concept"]))
    error = gate_failure(corpus_copy, lenient_config, tmp_path / "report")
    assert error.report.structural_failures == ("missing columns: concept",)
    assert error.report.n_decoded == error.report.n_rows == 40


def test_too_few_rows_is_structural(
    corpus_copy: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    _rewrite_manifest(corpus_copy, lambda frame: frame.head(3))
    error = gate_failure(corpus_copy, lenient_config, tmp_path / "report")
    assert "it has 3 rows, outside validate.min_rows=10" in str(error)
    assert error.report.n_unlisted > 0  # the dropped rows' samples are still in the shards


@pytest.mark.parametrize("damage", ["missing", "garbage", "empty", "no_dir"])
def test_unreadable_manifest_fails_cleanly(
    damage: str, corpus_copy: Path, lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    manifest = corpus_copy / "manifest.parquet"
    data_dir = corpus_copy
    if damage == "missing":
        manifest.unlink()
    elif damage == "garbage":
        manifest.write_bytes(b"PAR1 this is not parquet")
    elif damage == "empty":
        manifest.write_bytes(b"")
    else:
        data_dir = tmp_path / "nowhere"
    report_dir = tmp_path / "report"
    error = gate_failure(data_dir, lenient_config, report_dir)
    message = str(error)
    assert message.startswith("Data validation failed:") and "Traceback" not in message
    assert error.__cause__ is None or damage in ("garbage", "empty")
    assert ("does not exist" in message) if damage == "no_dir" else (str(manifest) in message)
    assert json.loads((report_dir / "validation.json").read_text())["summary"] == message
    assert load_quarantined_ids(report_dir) == set()
    assert not (report_dir / "data_docs").exists()


def test_load_quarantined_ids_without_a_report(tmp_path: Path) -> None:
    assert load_quarantined_ids(tmp_path / "never-validated") == set()
    (tmp_path / "quarantine.csv").write_text("something,else\n1,2\n")
    with pytest.raises(ValueError, match="not a quarantine report"):
        load_quarantined_ids(tmp_path)


def test_duplicate_ids_quarantine_the_later_row(
    lenient_config: ValidateConfig, tmp_path: Path
) -> None:
    samples = good_samples(12)
    data_dir = write_corpus(tmp_path / "data", samples)
    extra = write_corpus(tmp_path / "extra", [Sample("good-001", samples[5].image)])
    shutil.copy(extra / "shards" / "train-00000.tar", data_dir / "shards" / "extra-00000.tar")

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        row = pd.read_parquet(extra / "manifest.parquet").assign(shard="shards/extra-00000.tar")
        return pd.concat([frame, row], ignore_index=True)

    _rewrite_manifest(data_dir, change)
    report = validate_corpus(data_dir, lenient_config, tmp_path / "report")
    rows = _quarantine(tmp_path / "report")
    assert [(r["id"], r["reason"]) for r in rows] == [("good-001", "duplicate_id")]
    assert report.n_rejected == 1
