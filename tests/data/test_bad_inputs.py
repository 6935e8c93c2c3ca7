"""The bad-input corpus (bad_inputs.py): every kind gets its exact reason, alone, together and
in any row order; one build over all of them does not abort, stores none of their bytes, and the
gate's quarantine report lists each of them."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from bad_inputs import (
    CANARY,
    LIMITS,
    SHARD_KINDS,
    TABLE_KINDS,
    parquet_kinds,
    write_outside,
    write_parquet,
    write_shards,
    write_table,
)
from PIL import Image
from userdata import picture, user_cfg, write

from components.checks.image import normalise_to_rgb
from components.data.build import build_corpus
from components.data.corpus.manifest import read_manifest
from components.data.corpus.reader import read_split
from components.data.corpus.rejections import read_rejected
from components.data.sources.user_sources import UserData, load_user_sources
from components.settings import load_settings
from components.validation.gate import validate_corpus

pytestmark = pytest.mark.timeout(600)


def _load(small_cfg, sources: list[Path]) -> UserData:
    cfg = user_cfg(small_cfg, user_sources=[str(s) for s in sources])
    return load_user_sources(cfg, LIMITS, workers=2)


def _by_row(data: UserData, table: Path) -> dict[int, str]:
    return {r.row: r.reason.value for r in data.rejected if r.source == str(table)}


def _by_shard_reference(data: UserData, folder: Path) -> dict[str, str]:
    prefix = f"{folder.resolve()}/"
    return {
        r.reference.removeprefix(prefix): r.reason.value
        for r in data.rejected
        if r.source == str(folder)
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    write_outside(tmp_path / "outside")
    return tmp_path / "outside"


def test_the_corpus_has_more_than_forty_kinds(tmp_path: Path) -> None:
    names = [k.name for k in TABLE_KINDS] + [k.name for k in SHARD_KINDS]
    names += [k.name for k in parquet_kinds(tmp_path)]
    assert len(names) >= 40 and len(set(names)) == len(names)
    reasons = {k.reason for k in (*TABLE_KINDS, *SHARD_KINDS)} - {None}
    assert len(reasons) >= 25  # not forty spellings of one reason


@pytest.mark.parametrize("kind", TABLE_KINDS, ids=lambda kind: kind.name)
def test_each_table_kind_alone_gets_its_reason(kind, tmp_path, outside, small_cfg) -> None:
    table, expected = write_table(tmp_path / "in", outside, (kind,))
    data = _load(small_cfg, [table])
    assert _by_row(data, table) == ({} if kind.reason is None else {2: kind.reason})
    assert len(data.images) == (2 if kind.reason is None else 1)  # the plain row always stays


@pytest.mark.parametrize("kind", SHARD_KINDS, ids=lambda kind: kind.name)
def test_each_shard_kind_alone_gets_its_reason(kind, tmp_path, outside, small_cfg) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    kind.make(folder, outside)
    data = _load(small_cfg, [folder])
    refused = _by_shard_reference(data, folder)
    if kind.reason is None:
        assert kind.reference in {
            str(i.path).removeprefix(f"{folder.resolve()}/") for i in data.images
        }
        assert kind.reference not in refused
    else:
        assert refused[kind.reference] == kind.reason


def test_each_table_level_kind_rejects_all_its_rows(tmp_path, small_cfg) -> None:
    for kind in parquet_kinds(tmp_path):
        table = write_parquet(tmp_path, kind)
        data = _load(small_cfg, [table])
        assert not data.images, kind.name
        assert _by_row(data, table) == {1: kind.reason, 2: kind.reason}, kind.name


def test_row_order_does_not_change_any_reason(tmp_path, outside, small_cfg) -> None:
    forward, _ = write_table(tmp_path / "forward", outside, TABLE_KINDS)
    backward, _ = write_table(tmp_path / "backward", outside, TABLE_KINDS[::-1])
    rows_forward, rows_backward = (
        _by_row(_load(small_cfg, [table]), table) for table in (forward, backward)
    )
    n = len(TABLE_KINDS) + 1  # row 1 is the plain picture in both
    by_kind_forward = {k.name: rows_forward.get(i + 2) for i, k in enumerate(TABLE_KINDS)}
    by_kind_backward = {
        k.name: rows_backward.get(n - i) for i, k in enumerate(TABLE_KINDS)
    }  # kind i sits at row n - i when reversed
    assert by_kind_forward == by_kind_backward == {k.name: k.reason for k in TABLE_KINDS}


def test_one_invalid_utf8_row_keeps_every_other_row(tmp_path, small_cfg) -> None:
    lines = [b"image,caption"]
    for i in range(40):
        write(tmp_path / f"{i}.png", picture(500 + i))
        caption = b"caf\xe9 cr\xe8me" if i == 20 else b"picture %d" % i
        lines.append(b"%d.png,%s" % (i, caption))
    table = tmp_path / "latin1.csv"
    table.write_bytes(b"\n".join(lines) + b"\n")
    data = _load(small_cfg, [table])
    assert len(data.images) == 39
    [bad] = data.rejected
    assert (bad.row, bad.reason.value, bad.reference) == (21, "non_utf8_caption", "20.png")
    assert bad.detail.startswith("row 21: byte 3 is not UTF-8")


def _stored_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return normalise_to_rgb(image).resize((32, 32)).tobytes()


def test_one_build_over_every_kind(tmp_path, outside, sources_dir, small_cfg) -> None:
    """No kind aborts the build; each is refused (or admitted) with its reason; no refused byte
    reaches the corpus; the gate lists every refusal with its reference and reason."""
    table, expected_rows = write_table(tmp_path / "in", outside, TABLE_KINDS)
    shards = tmp_path / "shards"
    expected_shards = write_shards(shards, outside)
    tables = parquet_kinds(tmp_path / "in")
    parquets = [write_parquet(tmp_path / "in", kind) for kind in tables]
    sources = [str(table), str(shards), *map(str, parquets)]
    data_dir = tmp_path / "data"
    card = build_corpus(user_cfg(small_cfg, user_sources=sources), sources_dir, data_dir,
                        limits=LIMITS)  # fmt: skip

    refused = read_rejected(data_dir)
    rows = {r.row: r.reason.value for r in refused if r.source == str(table)}
    assert rows == {n: reason for n, reason in expected_rows.items() if reason is not None}
    prefix = f"{shards.resolve()}/"
    by_reference = {r.reference.removeprefix(prefix): r.reason.value for r in refused
                    if r.source == str(shards)}  # fmt: skip
    assert by_reference == {ref: reason for ref, reason in expected_shards.items() if reason}
    for kind, path in zip(tables, parquets, strict=True):
        assert [r.reason.value for r in refused if r.source == str(path)] == [kind.reason] * 2

    admitted = sum(reason is None for reason in expected_rows.values())
    admitted += sum(reason is None for reason in expected_shards.values())
    assert card["counts"]["by_source"]["user"] == admitted
    assert card["rejected"]["total"] == len(refused)

    stored = _stored_bytes(data_dir)
    assert CANARY not in stored and b"a stolen shard" not in stored
    assert b"caf\xe9" not in stored and bytes(400_000) not in stored
    user_ids = {r["id"] for r in read_manifest(data_dir).to_pylist() if r["source"] == "user"}
    samples = [s for split in ("train", "val") for s in read_split(data_dir, split)]
    stored_pixels = {_pixels(s.image_png) for s in samples if s.id in user_ids}
    assert _pixels(picture(777)) not in stored_pixels  # the canary picture outside the folder
    assert len(stored_pixels) == admitted

    gate = load_settings(profile="default").validate_.model_copy(
        update={**LIMITS.model_dump(), "min_rows": 1, "max_rejected_fraction": 1.0}
    )
    report = validate_corpus(data_dir, gate, tmp_path / "report")
    with (tmp_path / "report" / "quarantine.csv").open(newline="") as handle:
        listed = [row for row in csv.DictReader(handle) if row["id"] == ""]
    assert [(r["reference"], r["reason"]) for r in listed] == [
        (r.reference, r.reason.value) for r in refused
    ]
    assert all(r.sha256 is None or len(r.sha256) == 64 for r in refused)
    notes = next(r for r in listed if r["reference"] == "notes.png")
    assert notes["sha256"] == hashlib.sha256(CANARY + b" shopping list").hexdigest()
    assert report.n_build_rejected == len(refused) and report.n_rejected == len(refused)


def test_the_docs_table_lists_every_kind_with_its_reason(tmp_path) -> None:
    """docs/bad_inputs.md is the user's copy of this corpus: it must say what the tests assert."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "bad_inputs.md"
    rows = {}
    for line in docs.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in ("table row", "shard", "table"):
            rows[cells[1]] = None if cells[2] == "admitted" else cells[2].strip("`")
    kinds = {k.name: k.reason for k in (*TABLE_KINDS, *SHARD_KINDS)}
    kinds |= {k.name: k.reason for k in parquet_kinds(tmp_path)}
    assert rows == kinds
