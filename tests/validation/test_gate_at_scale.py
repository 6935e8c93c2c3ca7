"""The gate in bounded memory: chunks of the manifest through GX, groupings spilled to disk,
shards decoded on Ray Data. Each path must give the report the simple path gives."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from components.settings import ValidateConfig
from components.validation import grouping, manifest_table, shard_runner
from components.validation.gate import RayPlace, validate_corpus
from components.validation.report import ValidationReport

from .validation_support import BadCorpus


def _quarantine(report_dir: Path) -> list[dict[str, str]]:
    with (report_dir / "quarantine.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _same_findings(report: ValidationReport, report_dir: Path, base: ValidationReport,
                   base_dir: Path) -> None:  # fmt: skip
    assert report.reasons == base.reasons and report.n_rejected == base.n_rejected
    assert report.normalised == base.normalised and report.n_decoded == base.n_decoded
    assert _quarantine(report_dir) == _quarantine(base_dir)


def test_chunked_suite_and_spilled_groupings_give_the_same_report(
    bad_corpus: BadCorpus,
    lenient_config: ValidateConfig,
    bad_run: tuple[ValidationReport, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chunks of 7 rows and buckets of 4: every duplicate, every shard's unlisted keys and every
    quarantined row is found as when the whole manifest fits in one chunk and one bucket."""
    monkeypatch.setattr(grouping, "BUCKET_ROWS", 4)
    monkeypatch.setattr(manifest_table, "CHUNK_ROWS", 7)
    base, base_dir = bad_run
    assert grouping.bucket_count(base.n_rows) > 1 and base.n_rows > 7  # it does spill and chunk
    report = validate_corpus(bad_corpus.data_dir, lenient_config, tmp_path)
    _same_findings(report, tmp_path, base, base_dir)
    assert "duplicate_image" in report.reasons and "not_in_manifest" in report.reasons
    pages = list((tmp_path / "data_docs" / "validations").rglob("*.html"))
    assert len(pages) == -(-base.n_rows // 7)  # one GX validation per chunk
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("gate-buckets-")]


def test_shards_decoded_on_ray_data_give_the_same_report(
    bad_corpus: BadCorpus,
    lenient_config: ValidateConfig,
    bad_run: tuple[ValidationReport, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From validate.decode_on_ray_from_rows rows the shards are checked by Ray Data tasks on a
    Ray the gate starts (and stops): same verdicts, same order, same quarantine."""
    import ray

    shards_on_ray: list[str] = []
    real_run = shard_runner.RayRunner.run

    def run(self, jobs, cfg):  # the real runner, noting which shards it was given
        shards_on_ray.extend(job.shard for job in jobs)
        yield from real_run(self, jobs, cfg)

    monkeypatch.setattr(shard_runner.RayRunner, "run", run)
    cfg = lenient_config.model_copy(update={"decode_on_ray_from_rows": 1})
    assert not ray.is_initialized()
    report = validate_corpus(bad_corpus.data_dir, cfg, tmp_path, RayPlace())
    assert not ray.is_initialized()  # the Ray it started is gone
    assert len(shards_on_ray) >= 2  # every locatable shard went through Ray Data
    base, base_dir = bad_run
    _same_findings(report, tmp_path, base, base_dir)
