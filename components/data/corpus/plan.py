"""Which samples the corpus holds: each source image with its split and concept name."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from components.data.corpus.records import SourceImage
from components.data.corpus.splits import (
    HELDOUT,
    TRAIN,
    VAL,
    choose_val,
    content_split,
    heldout_split,
    select_concepts,
)
from components.data.errors import DataSourceError
from components.settings import DataConfig


@dataclass(frozen=True)
class PlannedSample:
    image: SourceImage
    split: str
    concept: str  # the training package's name for the concept, shared by every style

    @property
    def id(self) -> str:
        return self.image.sample_id


def content_split_samples(cfg: DataConfig, user: Sequence[SourceImage]) -> list[PlannedSample]:
    """A user (or other captioned) sample's concept is its caption; its split comes from its
    image's hash."""
    planned = []
    for image in user:
        sha = image.sha256 or hashlib.sha256(image.data or b"").hexdigest()
        planned.append(
            PlannedSample(image, content_split(sha, cfg.val_fraction, cfg.seed), image.captions[0])
        )
    return planned


def plan_samples(
    cfg: DataConfig,
    train: list[SourceImage],
    heldout: list[SourceImage],
    extra_train: Sequence[SourceImage] = (),
    debian: Sequence[PlannedSample] = (),
    extra_heldout: Sequence[SourceImage] = (),
) -> list[PlannedSample]:
    """Every sample to build, with its split and concept name, sorted by (split, id).

    Concepts are those the training and held-out packages share (capped by max_concepts);
    `extra_train` styles of a selected concept go to that concept's split (train or val), so a
    val concept is never trained on in any style; `extra_heldout` styles of a selected concept
    go to their style's own held-out split. `debian` samples come planned already. The
    user's samples are not planned here: they stream into shards of their own (build.py).
    """
    bases = {image.code: image for image in train if image.code == image.base_code}
    heldout_codes = {image.base_code for image in heldout}
    shared = {code: image.category for code, image in bases.items() if code in heldout_codes}
    if not shared:
        raise DataSourceError(
            f"{cfg.train_package} and {cfg.heldout_package} share no emoji concepts"
        )
    selected = set(select_concepts(shared, cfg.max_concepts, cfg.seed))
    val = choose_val(selected, cfg.val_fraction, cfg.seed)
    planned = (
        [
            PlannedSample(
                image, VAL if image.base_code in val else TRAIN, bases[image.base_code].name
            )
            for image in [*train, *extra_train]
            if image.base_code in selected
        ]
        + [
            PlannedSample(image, HELDOUT, bases[image.base_code].name)
            for image in heldout
            if image.base_code in selected
        ]
        + [
            PlannedSample(image, heldout_split(image.source), bases[image.base_code].name)
            for image in extra_heldout
            if image.base_code in selected
        ]
    )
    planned += debian
    repeated = [sample_id for sample_id, n in Counter(p.id for p in planned).items() if n > 1]
    if repeated:
        raise DataSourceError(
            f"two source images map to the same sample id ({repeated[0]!r}); is a package "
            "listed twice?"
        )
    return sorted(planned, key=lambda p: (p.split, p.id))


def _scatter_key(seed: int, sample_id: str) -> str:
    return hashlib.sha256(f"shard-order/{seed}/{sample_id}".encode()).hexdigest()


def shard_order(planned: list[PlannedSample], seed: int) -> list[PlannedSample]:
    """The order samples are written into shards: each split after the other; the training
    split in a seeded random order, so every training shard is a random sample of the
    concepts (as img2dataset's and DataComp's shards are). Sorted by id, a shard would hold one
    region of the emoji code space (all the flags, all the faces), and a streaming reader that
    shuffles shards and a bounded window would train on batches of look-alikes. The other
    splits stay in id order: readers of a split's first samples (export, register) stop early."""
    return sorted(
        planned,
        key=lambda p: (p.split, _scatter_key(seed, p.id) if p.split == TRAIN else p.id),
    )
