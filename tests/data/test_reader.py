from __future__ import annotations

import pytest

from components.data.corpus.reader import read_split
from components.model.preprocess import images_to_tensor


def test_read_split_returns_decodable_images(corpus) -> None:
    data_dir, card = corpus
    train = read_split(data_dir, "train")
    assert len(train) == card["counts"]["by_split"]["train"]
    assert [s.id for s in train] == sorted(s.id for s in train)
    assert all(s.id.startswith("noto-") and s.captions and s.concept for s in train)
    images = images_to_tensor([s.image_png for s in train], 32)
    assert images.shape == (len(train), 3, 32, 32) and str(images.dtype) == "torch.uint8"
    assert images.float().std() > 0  # real pictures, not blank canvases
    assert images_to_tensor([train[0].image_png], 24).shape == (1, 3, 24, 24)
    assert images_to_tensor([], 24).shape == (0, 3, 24, 24)


def test_read_split_excludes_ids_and_checks_names(corpus) -> None:
    data_dir, _ = corpus
    heldout = read_split(data_dir, "heldout_style")
    kept = read_split(data_dir, "heldout_style", exclude_ids={heldout[0].id})
    assert [s.id for s in kept] == [s.id for s in heldout[1:]]
    with pytest.raises(ValueError, match="unknown split"):
        read_split(data_dir, "test")


def test_a_manifest_naming_a_shard_outside_the_corpus_is_refused_unread(corpus, tmp_path) -> None:
    """The manifest is untrusted: a shard name that climbs out is refused before it is opened,
    even where a file of that name exists outside."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.data.errors import DataSourceError

    data_dir, _ = corpus
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    table = pq.read_table(copy / "manifest.parquet")
    shards = table.column("shard").to_pylist()
    first_val = table.column("split").to_pylist().index("val")
    outside = copy.parent / "outside.tar"
    shutil.copy(copy / shards[first_val], outside)  # a real shard, but not the corpus's
    shards[first_val] = "shards/../../outside.tar"
    column = table.schema.get_field_index("shard")
    pq.write_table(table.set_column(column, "shard", pa.array(shards)), copy / "manifest.parquet")
    with pytest.raises(DataSourceError, match="not a name inside the corpus"):
        read_split(copy, "val")
    assert read_split(copy, "train")  # the other splits' shards still read
