"""The Ray Data ingest of a training worker, on a real local Ray: the planned pieces' samples in
the plan's order, the quarantined keys dropped, skip/take by count, the model's transform and
the tokenizer applied in map_batches, a short shard a clear error."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.data.corpus.location import CorpusLocation
from components.data.corpus.manifest import shard_index
from components.data.corpus.webdataset import write_shard
from components.model.preprocess import eval_transform
from components.model.tokenizer import WordTokenizer
from components.training.ray_ingest import group_windows, stream
from components.training.shard_plan import Piece

SIDE = 8


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from components.data.corpus.manifest import write_manifest

    root = tmp_path_factory.mktemp("corpus")
    (root / "shards").mkdir()
    rows = []
    for s in range(3):
        samples = {}
        for i in range(10):
            key = f"k{s}{i:02d}"
            meta = {"id": key, "concept": "c", "captions": [f"cap {key}", f"other {key}"]}
            samples[key] = {"png": _png(s * 100 + i), "json": json.dumps(meta).encode()}
            rows.append(
                {"id": key, "split": "train", "source": "t", "license": "CC0", "code": key,
                 "concept": "c", "caption": meta["captions"][0], "captions": meta["captions"],
                 "shard": f"shards/s{s}.tar", "key": key, "image_sha256": "", "width": 12,
                 "height": 12, "n_bytes": 1, "caption_chars": 5}
            )  # fmt: skip
        write_shard(root / "shards" / f"s{s}.tar", samples)
    write_manifest(rows, root / "manifest.parquet")
    return root


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _tokenizer() -> WordTokenizer:
    words = [f"cap k{s}{i:02d}" for s in range(3) for i in range(10)]
    return WordTokenizer.train(words + ["other"], 200, 6)


def test_pieces_in_order_minus_the_quarantine(corpus: Path, local_ray) -> None:
    location = CorpusLocation.of(corpus)
    index = shard_index(location, "train", {"k101", "k205"})
    assert index["shards/s1.tar"] == (9, ("k101",))
    excluded = {shard: keys for shard, (_, keys) in index.items()}
    pieces = [Piece(0, "shards/s2.tar", 2, 5), Piece(0, "shards/s1.tar", 0, 3)]
    tokenizer = _tokenizer()
    windows = [pieces[:1], pieces[1:]]  # one Ray Data execution each

    def read() -> list[dict]:
        return list(stream(location, windows, excluded, eval_transform(SIDE), tok, 7))

    tok = tokenizer.to_dict()
    batches = read()
    assert [len(b["key"]) for b in batches] == [5, 3]
    keys = [str(k) for b in batches for k in b["key"]]
    # s2 without k205: k200 k201 | k202 k203 k204 k206 k207 ; s1 without k101: k100 k102 k103
    assert keys == ["k202", "k203", "k204", "k206", "k207", "k100", "k102", "k103"]
    images = np.concatenate([b["image"] for b in batches])
    assert images.shape == (8, SIDE, SIDE, 3) and images.dtype == np.uint8
    raw = {f"k{s}{i:02d}": _png(s * 100 + i) for s in range(3) for i in range(10)}
    assert all(np.array_equal(images[j], eval_transform(SIDE)(raw[k])) for j, k in enumerate(keys))
    tokens = np.concatenate([b["tokens"] for b in batches])
    for row, key in zip(tokens, keys, strict=True):
        options = tokenizer([f"cap {key}", f"other {key}"]).numpy()
        assert any(np.array_equal(row, option) for option in options)
    # the caption drawn is a function of (seed, pass, key): the same on a second read
    again = read()
    assert np.array_equal(np.concatenate([b["tokens"] for b in again]), tokens)


def test_consecutive_windows_share_a_read_and_come_back_the_same(corpus: Path, local_ray) -> None:
    """A small corpus trained for many passes: windows after the first are read together, up to
    the buffer's rows, in one Ray Data execution, and handed out window by window exactly as
    one read each would (keys, images, tokens)."""
    location = CorpusLocation.of(corpus)
    tok = _tokenizer().to_dict()
    windows = [  # 4 passes of 2 + 3 samples, one window per pass
        [Piece(p, "shards/s0.tar", 0, 2), Piece(p, "shards/s1.tar", 4, 3)] for p in range(4)
    ]
    assert [len(read) for read in group_windows(windows, 10)] == [1, 2, 1]  # first alone
    assert [len(read) for read in group_windows(windows, 0)] == [1, 1, 1, 1]
    many = windows * 8  # each read at most twice the one before, up to the budget
    assert [len(read) for read in group_windows(many, 30)] == [1, 2, 4, 6, 6, 6, 6, 1]
    alone, grouped = (
        list(stream(location, windows, {}, eval_transform(SIDE), tok, 7, rows_per_read=rows))
        for rows in (0, 10)
    )
    assert [len(b["key"]) for b in grouped] == [5, 5, 5, 5]
    for one, other in zip(alone, grouped, strict=True):
        assert one.keys() == other.keys()
        for column in one:
            assert np.array_equal(one[column], other[column]), column


def test_a_shard_shorter_than_its_manifest_is_a_clear_error(corpus: Path, local_ray) -> None:
    location = CorpusLocation.of(corpus)
    pieces = [Piece(0, "shards/s0.tar", 8, 5)]  # 10 samples, 13 promised
    with pytest.raises(Exception, match="holds 10 samples after the quarantine, fewer than"):
        list(stream(location, [pieces], {}, eval_transform(SIDE), _tokenizer().to_dict(), 0))


def test_names_outside_the_corpus_are_refused(corpus: Path) -> None:
    from components.data.errors import DataSourceError

    location = CorpusLocation.of(corpus)
    for name in ("../secret", "/etc/passwd", "s3://other/x", "shards/../../x"):
        with pytest.raises(DataSourceError, match="is not a name inside the corpus"):
            location.path(name)
