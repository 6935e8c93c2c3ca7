"""Shared corpora and configuration for the validation tests.

great_expectations takes ~5 s to import, so the corpora that need the full gate are validated
once per session and the tests read the results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.settings import ValidateConfig
from components.validation.report import ValidationReport

from .corpus_factory import good_samples, write_corpus
from .validation_support import (
    TEST_LIMITS,
    BadCorpus,
    build_bad_corpus,
    params_config,
    validate,
)


@pytest.fixture(scope="session")
def lenient_config() -> ValidateConfig:
    return params_config(**TEST_LIMITS, max_rejected_fraction=1.0)


@pytest.fixture(scope="session")
def strict_config() -> ValidateConfig:
    return params_config(**TEST_LIMITS, max_rejected_fraction=0.02)


@pytest.fixture(scope="session")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory) -> BadCorpus:
    return build_bad_corpus(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def bad_run(
    bad_corpus: BadCorpus, lenient_config: ValidateConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ValidationReport, Path]:
    """The bad corpus through the gate with the threshold out of the way."""
    report_dir = tmp_path_factory.mktemp("bad-report")
    return validate(bad_corpus.data_dir, lenient_config, report_dir), report_dir


@pytest.fixture(scope="session")
def clean_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("clean") / "data", good_samples(40, seed=1))
