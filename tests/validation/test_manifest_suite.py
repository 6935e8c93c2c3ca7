"""The great-expectations suite on manifest DataFrames (no shards needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from components.checks.reasons import Reason
from components.validation.manifest_suite import MANIFEST_COLUMNS, SuiteResult, run_manifest_suite
from components.validation.manifest_table import ManifestTable

from .corpus_factory import good_samples, manifest_row
from .validation_support import TEST_LIMITS, params_config

CFG = params_config(**TEST_LIMITS)


def _manifest(n: int = 12) -> pd.DataFrame:
    rows = [manifest_row(s, "shards/train-00000.tar") for s in good_samples(n)]
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


@pytest.fixture(scope="module")
def flawed(tmp_path_factory: pytest.TempPathFactory) -> tuple[SuiteResult, pd.DataFrame, Path]:
    frame = _manifest()
    frame.loc[2, "license"] = None
    frame.loc[3, "id"] = frame.loc[1, "id"]
    frame.loc[4, "image_sha256"] = frame.loc[0, "image_sha256"]
    frame.loc[5, "caption"] = "x" * 301
    frame.loc[6, "width"] = 4
    frame.loc[7, "height"] = 9999
    frame.index = frame.index + 100  # a non-default index must not shift the row positions
    docs = tmp_path_factory.mktemp("docs")
    return run_manifest_suite(frame, CFG, docs), frame, docs


def test_clean_manifest_passes() -> None:
    result = run_manifest_suite(_manifest(), CFG)
    assert result.success and result.schema_ok and not result.structural_failures
    assert result.row_problems == {} and result.data_docs_index is None
    assert all(o.unexpected_count == 0 for o in result.outcomes)


def test_row_level_failures_become_row_problems(flawed) -> None:
    result, _, _ = flawed
    assert {pos: p.reason for pos, p in result.row_problems.items()} == {
        2: Reason.MISSING_FIELD,
        3: Reason.DUPLICATE_ID,  # the later copy only: row 1 keeps the id
        4: Reason.DUPLICATE_IMAGE,
        5: Reason.CAPTION_TOO_LONG,
        6: Reason.IMAGE_TOO_SMALL,
        7: Reason.IMAGE_TOO_LARGE,
    }
    assert not result.success and result.schema_ok and not result.structural_failures


def test_outcomes_name_the_expectation_and_examples(flawed) -> None:
    result, frame, _ = flawed
    unique_id = next(o for o in result.outcomes if o.name.endswith("unique") and o.column == "id")
    assert not unique_id.success and unique_id.unexpected_count == 2  # GX counts both copies
    assert unique_id.unexpected_sample == (repr(frame["id"].iat[1]),) * 2
    assert unique_id.reasons == ("duplicate_id",) and not unique_id.structural


def test_data_docs_are_built_into_the_given_folder(flawed) -> None:
    result, _, docs = flawed
    assert result.data_docs_index == docs.resolve() / "index.html"
    index = result.data_docs_index.read_text()
    assert "manifest" in index
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()  # rendered prose, with the offending values
    prose = " ".join(re.sub(r"<[^>]*>", " ", page).split())
    assert "values must never be null" in prose and "300 characters long" in prose
    assert ">9999<" in page  # the height over the limit, among the unexpected values


def test_uniqueness_spans_chunks_and_is_in_the_outcomes() -> None:
    """GX sees one chunk at a time; the id and image-hash checks group the whole manifest, so a
    copy three chunks after its first holder is still found, and only the later copy is flagged."""
    frame = _manifest(40)
    frame.loc[31, "id"] = frame.loc[2, "id"]
    frame.loc[37, "image_sha256"] = frame.loc[5, "image_sha256"]
    frame.loc[38, "image_sha256"] = frame.loc[5, "image_sha256"]
    result = run_manifest_suite(ManifestTable(frame, chunk_rows=8), CFG)
    reasons = {pos: p.reason for pos, p in result.row_problems.items()}
    assert reasons == {
        31: Reason.DUPLICATE_ID,
        37: Reason.DUPLICATE_IMAGE,
        38: Reason.DUPLICATE_IMAGE,
    }
    assert repr(frame.loc[2, "id"]) in result.row_problems[31].detail  # names the holder
    by_column = {o.column: o for o in result.outcomes if o.name.endswith("unique")}
    assert by_column["id"].unexpected_count == 2 and by_column["image_sha256"].unexpected_count == 3
    rows = next(o for o in result.outcomes if o.name == "expect_table_row_count_to_be_between")
    assert rows.observed == "40" and rows.success


def test_structural_failures() -> None:
    frame = _manifest().drop(columns=["height"])
    frame.loc[0, "split"] = "test"
    frame.loc[1, "source"] = "unlisted-source"
    result = run_manifest_suite(frame.head(5), CFG)
    failed = {o.name + (f":{o.column}" if o.column else "") for o in result.structural_failures}
    assert failed == {
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_in_set:split",
        "expect_column_values_to_be_in_set:source",
        "expect_column_values_to_not_be_null:height",  # cannot be evaluated: no such column
        "expect_column_values_to_be_between:height",
    }
    assert not result.schema_ok
    schema = result.structural_failures[0]
    assert schema.observed == "missing columns: height"
    reasons = {pos: p.reason for pos, p in result.row_problems.items()}
    assert reasons == {0: Reason.UNKNOWN_SPLIT, 1: Reason.UNKNOWN_SOURCE}


def test_extra_columns_are_allowed() -> None:
    result = run_manifest_suite(_manifest().assign(aesthetic_score=0.5), CFG)
    assert result.success
