"""Bad user images cost their own row only: the build refuses them at the source (their bytes
are stored nowhere) and the validation gate reports them beside what it found itself."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from userdata import huge_png_header, picture, user_cfg, write, write_csv

from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.settings import ValidateConfig, load_settings
from components.validation.errors import GateFailed
from components.validation.gate import validate_corpus

pytestmark = pytest.mark.timeout(300)


def _gate_config(**changes: object) -> ValidateConfig:
    base = load_settings(profile="default").validate_
    return base.model_copy(update={"min_rows": 1, "max_rejected_fraction": 1.0, **changes})


def _quarantine(report_dir: Path) -> list[dict[str, str]]:
    with (report_dir / "quarantine.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _build(tmp_path: Path, sources_dir: Path, small_cfg, bad: dict[str, bytes]) -> Path:
    """A corpus from a CSV of two good images plus `bad` (file name -> bytes)."""
    rows = []
    for i in range(2):
        write(tmp_path / "in" / f"good{i}.png", picture(i + 40))
        rows.append({"image": f"good{i}.png", "caption": f"good picture {i}"})
    for name, data in bad.items():
        write(tmp_path / "in" / name, data)
        rows.append({"image": name, "caption": f"bad file {name}"})
    table = write_csv(tmp_path / "in" / "table.csv", rows)
    data_dir = tmp_path / "data"
    build_corpus(user_cfg(small_cfg, user_sources=[str(table)]), sources_dir, data_dir)
    return data_dir


def test_the_gate_reports_what_the_build_refused(tmp_path, sources_dir, small_cfg) -> None:
    good = picture(7)
    bad = {
        "empty.png": b"",
        "cut.png": good[: len(good) // 2],
        "notes.png": b"these are my shopping notes, not a picture\n",
        "bomb.png": huge_png_header(),
        "readme.txt": b"plain text, no image",
    }
    data_dir = _build(tmp_path, sources_dir, small_cfg, bad)
    user = [r for r in read_manifest(data_dir).to_pylist() if r["source"] == "user"]
    assert sorted(r["caption"] for r in user) == ["good picture 0", "good picture 1"]
    stored = b"".join(p.read_bytes() for p in (data_dir / "shards").glob("*.tar"))
    assert all(data not in stored for data in bad.values() if data)  # no refused byte is stored

    report = validate_corpus(data_dir, _gate_config(), tmp_path / "report")
    refused = {r["reference"]: r for r in _quarantine(tmp_path / "report") if r["id"] == ""}
    assert {ref: r["reason"] for ref, r in refused.items()} == {
        "empty.png": "zero_bytes",
        "cut.png": "truncated",
        "notes.png": "not_an_image",
        "bomb.png": "decompression_bomb",  # 5000x5000 declared: refused before decoding
        "readme.txt": "not_an_image",
    }
    assert refused["notes.png"]["sha256"] == hashlib.sha256(bad["notes.png"]).hexdigest()
    assert refused["notes.png"]["source"] == "user" and refused["notes.png"]["split"] == ""
    assert report.n_build_rejected == 5 and report.n_rejected == 5
    assert report.n_accepted == report.n_rows  # every stored sample passed
    assert "5 refused by the data build, their bytes never stored" in report.summary


def test_refused_samples_count_against_the_limit(tmp_path, sources_dir, small_cfg) -> None:
    data_dir = _build(tmp_path, sources_dir, small_cfg, {"gone.png": b""})
    n_rows = len(read_manifest(data_dir))
    limit = 0.5 / (n_rows + 1)  # one refused sample is above it
    with pytest.raises(GateFailed) as caught:
        validate_corpus(data_dir, _gate_config(max_rejected_fraction=limit), tmp_path / "r")
    assert caught.value.report.rejected_fraction == pytest.approx(1 / (n_rows + 1), abs=1e-6)
    assert "1 zero_bytes" in str(caught.value)
