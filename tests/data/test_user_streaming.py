"""The user's samples stream through the build a window at a time: the structures that must
not grow with the corpus (the duplicate index, the concept count, the rolling shards) give the
same answers as holding everything would."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from userdata import picture, user_cfg, write, write_csv

import components.data.corpus.distinct as distinct
import components.data.sources.seen_images as seen_images
import components.data.sources.user_sources as user_sources
from components.checks.reasons import Reason
from components.data.build import build_corpus
from components.data.corpus.distinct import DistinctCount
from components.data.corpus.manifest import read_manifest
from components.data.corpus.rejections import read_rejected
from components.data.corpus.webdataset import iter_shard
from components.data.sources.seen_images import SeenImages

N_ROWS = 90
REPEATS = {40: 2, 77: 5, 89: 5}  # row -> the earlier row whose picture it repeats


def _table(folder: Path) -> Path:
    rows = []
    for n in range(1, N_ROWS + 1):
        source = REPEATS.get(n, n)
        write(folder / f"{n}.png", picture(source))
        rows.append({"image": f"{n}.png", "caption": f"picture number {source}"})
    return write_csv(folder / "table.csv", rows)


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows, index runs and hash buffers a few rows long: every boundary is crossed."""
    monkeypatch.setattr(user_sources, "WINDOW", 7)
    monkeypatch.setattr(user_sources, "WINDOW_BYTES", 5_000)  # a few small PNGs
    monkeypatch.setattr(seen_images, "RUN_ROWS", 5)
    monkeypatch.setattr(distinct, "FLUSH_HASHES", 11)


def test_streamed_build_is_deterministic_and_finds_far_duplicates(
    tmp_path, sources_dir, small_cfg, small_windows
) -> None:
    table = _table(tmp_path / "mine")
    cfg = user_cfg(small_cfg, user_sources=[str(table)], samples_per_shard=16)
    card = build_corpus(cfg, sources_dir, tmp_path / "a", workers=2)
    again = build_corpus(cfg, sources_dir, tmp_path / "b", workers=1)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")  # byte for byte
    assert card == again

    refused = read_rejected(tmp_path / "a")
    assert [(r.row, r.reason) for r in refused] == [(n, Reason.DUPLICATE_IMAGE) for n in REPEATS]
    assert [r.detail for r in refused] == [
        f"row {n}: same bytes as '{holder}.png'" for n, holder in REPEATS.items()
    ]
    rows = read_manifest(tmp_path / "a").to_pylist()
    user = [r for r in rows if r["source"] == "user"]
    assert len(user) == N_ROWS - len(REPEATS) == card["counts"]["by_source"]["user"]
    assert card["rejected"] == {"total": 3, "duplicate_image": 3}
    assert card["sources"]["user"][0]["samples"] == len(user)

    # the user's shards come after the packages' of the same split, full but the last
    for split in ("train", "val"):
        package = {r["shard"] for r in rows if r["split"] == split and r["source"] != "user"}
        mine = Counter(r["shard"] for r in user if r["split"] == split)
        assert not package & set(mine)
        numbers = sorted(int(s.rsplit("-", 1)[1].removesuffix(".tar")) for s in mine)
        assert numbers == list(range(len(package), len(package) + len(mine)))
        sizes = [mine[s] for s in sorted(mine)]
        assert all(n == 16 for n in sizes[:-1]) and 0 < sizes[-1] <= 16
    for row in user:  # every row is in its shard, as listed
        members = dict(iter_shard(tmp_path / "a" / row["shard"]))[row["key"]]
        assert json.loads(members["json"])["id"] == row["id"]

    # the card's concept count (on disk past 11 hashes) is the exact one
    concepts = {
        split: {r["concept"] for r in rows if r["split"] == split} for split in card["shards"]
    }
    assert card["concepts"]["by_split"] == {s: len(c) for s, c in concepts.items()}
    assert card["concepts"]["total"] == len(set().union(*concepts.values()))


def test_the_duplicate_index_answers_across_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(seen_images, "RUN_ROWS", 4)
    seen = SeenImages(tmp_path)
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(50)]
    for pos, sha in enumerate(shas[:40]):
        assert seen.first_holder(sha) is None
        seen.add(sha, pos, f"ref-{pos}-\udce9")  # a reference that is not UTF-8 survives
    assert len(seen) == 40 and len(seen._runs) < 8  # runs are merged as they grow
    assert [seen.first_holder(sha) for sha in shas] == [*range(40), *[None] * 10]
    holders = seen.holders({3, 39})
    assert holders == {3: ("ref-3-\udce9", shas[3]), 39: ("ref-39-\udce9", shas[39])}
    seen.close()


def test_distinct_count_spilled_is_exact(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(distinct, "FLUSH_HASHES", 10)
    texts = [f"caption {i % 137}" for i in range(1000)] + ["caf\udce9"]
    counter = DistinctCount(tmp_path)
    for start in range(0, len(texts), 9):
        counter.add(texts[start : start + 9])
    assert counter.count() == len(set(texts)) == 138
    assert any(tmp_path.iterdir())  # it did spill
    counter.close()
    assert not any(tmp_path.iterdir())


def test_a_parquet_table_streams_in_batches_with_rows_numbered_across_them(
    tmp_path, monkeypatch, small_cfg
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import components.data.sources.user_tables as user_tables
    from components.checks.limits import SampleLimits
    from components.data.sources.user_sources import load_user_sources

    monkeypatch.setattr(user_tables, "WINDOW_ROWS", 3)
    names = [f"{n}.png" for n in range(1, 11)]
    for n, name in enumerate(names, start=1):
        if n != 7:  # row 7's image is missing
            write(tmp_path / name, picture(n))
    table = pa.table({"image": names, "caption": [f"picture {n}" for n in range(1, 11)]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=4)
    cfg = user_cfg(small_cfg, user_sources=[str(tmp_path / "t.parquet")])
    loaded = load_user_sources(cfg, SampleLimits(), workers=1)
    assert [image.captions[0] for image in loaded.images] == [
        f"picture {n}" for n in range(1, 11) if n != 7
    ]
    [missing] = loaded.rejected
    assert (missing.row, missing.reference) == (7, "7.png")
    assert missing.detail.startswith("row 7: ")


def test_windows_checked_on_ray_make_the_same_corpus(
    tmp_path, sources_dir, small_cfg, small_windows, local_ray
) -> None:
    """From data.check_on_ray_from_samples on, windows are checked by Ray tasks, several in
    flight; their verdicts come back in window order, so the corpus is the same bytes."""
    from components.checks.limits import SampleLimits
    from components.data.sources.user_sources import ingest_user_sources

    table = _table(tmp_path / "mine")
    cfg = user_cfg(small_cfg, user_sources=[str(table)], samples_per_shard=16)
    on_threads = cfg.model_copy(update={"check_on_ray_from_samples": None})
    on_ray = cfg.model_copy(update={"check_on_ray_from_samples": 20})
    card = build_corpus(on_threads, sources_dir, tmp_path / "threads", workers=2)
    assert build_corpus(on_ray, sources_dir, tmp_path / "ray", workers=2) == card
    assert _files(tmp_path / "threads") == _files(tmp_path / "ray")  # byte for byte

    kept, refused = [], []
    report = ingest_user_sources(
        on_ray, SampleLimits(), 2, kept.extend, refused.extend, scratch=tmp_path
    )
    # windows of 7: the first two (14 samples) on threads, every later one (from the 21st
    # sample on) on Ray
    assert report.windows_on_ray == -(-N_ROWS // 7) - 2
    assert len(kept) == N_ROWS - len(REPEATS) and len(refused) == len(REPEATS)
