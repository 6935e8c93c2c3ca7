"""Ray Data ingest for one training worker: its planned shard pieces, read in order from the
corpus location (a local folder or S3, opened by whichever node runs the read task), the
quarantined samples dropped, one caption drawn per sample, then decoded, cropped and tokenized
in `map_batches` on CPU. The worker receives ready uint8 images and token ids.

Every random choice here is seeded by (seed, pass, sample key): a sample gets the same caption
and crop whether the run was interrupted or not.
"""

from __future__ import annotations

import functools
import json
import random
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.data.corpus.location import CorpusLocation
from components.data.corpus.splits import STYLES
from components.data.corpus.webdataset import image_part, iter_shard
from components.model.preprocess import ImageTransform
from components.training.shard_plan import Piece

ROWS_PER_BLOCK = 256  # samples per block a read task yields: a block stays a few MB
# the samples whose captions may be templated: the emoji styles, whose concept is a name
TEMPLATED_SOURCES = frozenset(STYLES)


def _sample_rng(seed: int, pass_index: int, key: str, what: str) -> random.Random:
    return random.Random(f"{what}/{seed}/{pass_index}/{key}")  # str seeds hash with sha512


@dataclass(frozen=True)
class CaptionTemplates:
    """Training captions that are, with probability `p`, a template filled with the sample's
    concept name ("an icon of {}.") instead of one of its captions: the words of evaluation's
    prompts are then words the model has seen (train.caption_templates). Only the emoji
    styles' samples (TEMPLATED_SOURCES) are templated: a user's photo keeps its own caption."""

    templates: tuple[str, ...] = ()
    p: float = 0.0

    def pick(
        self, captions: list[str], concept: str, rng: random.Random, source: str = "noto"
    ) -> str:
        # with no templates, or another source, exactly the draws of a run without them
        if self.templates and source in TEMPLATED_SOURCES and rng.random() < self.p:
            return self.templates[rng.randrange(len(self.templates))].format(concept)
        return captions[rng.randrange(len(captions))]


NO_TEMPLATES = CaptionTemplates()


def read_piece(
    location: CorpusLocation,
    piece: Piece,
    excluded: tuple[str, ...],
    seed: int,
    captions: CaptionTemplates = NO_TEMPLATES,
) -> Iterator[Any]:  # -> pyarrow.Table blocks
    """`piece.take` samples of its shard after `piece.skip` (excluded ones not counted); the
    rest of the shard is not read."""
    import pyarrow as pa

    dropped = frozenset(excluded)
    rows: dict[str, list] = {"key": [], "image": [], "caption": [], "pass": []}
    seen = taken = 0
    with location.open_stream(piece.shard) as stream:
        for key, parts in iter_shard(stream, sequential=True):
            if key in dropped:
                continue
            seen += 1
            if seen <= piece.skip:
                continue
            image = image_part(parts)
            if image is None or "json" not in parts:
                raise ValueError(f"sample {key!r} in {location.url(piece.shard)} is incomplete")
            meta = json.loads(parts["json"])
            rng = _sample_rng(seed, piece.pass_index, key, "caption")
            rows["key"].append(key)
            rows["image"].append(image[1])
            concept = meta.get("concept") or meta["captions"][0]
            source = meta.get("source", "")
            rows["caption"].append(captions.pick(meta["captions"], concept, rng, source))
            rows["pass"].append(piece.pass_index)
            taken += 1
            if len(rows["key"]) == ROWS_PER_BLOCK or taken == piece.take:
                yield pa.table(rows)
                rows = {name: [] for name in rows}
            if taken == piece.take:
                return
    raise ValueError(
        f"{location.url(piece.shard)} holds {seen} samples after the quarantine, fewer than "
        f"the {piece.skip + piece.take} its manifest row count promises"
    )


def _datasource(
    location: CorpusLocation, pieces: list[Piece], excluded, seed: int, captions: CaptionTemplates
):
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class CorpusShards(Datasource):
        """One read task per planned piece, in the plan's order."""

        def get_name(self) -> str:
            return "CorpusShards"

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None):
            tasks = []
            for piece in pieces:
                read = functools.partial(
                    read_piece,
                    location,
                    piece,
                    tuple(excluded.get(piece.shard, ())),
                    seed,
                    captions,
                )
                meta = BlockMetadata(
                    num_rows=piece.take,
                    size_bytes=None,
                    exec_stats=None,
                    input_files=(location.url(piece.shard),),
                )
                tasks.append(ReadTask(read, meta))
            return tasks

    return CorpusShards()


@functools.lru_cache(maxsize=4)
def _tokenizer(serialised: str):
    from components.model.tokenizers import tokenizer_from_dict

    return tokenizer_from_dict(json.loads(serialised))


def prepare_batch(
    batch: dict[str, np.ndarray], transform: ImageTransform, tokenizer: str, seed: int
) -> dict[str, np.ndarray]:
    """Raw samples -> {"key": [B], "image": uint8 [B, S, S, 3], "tokens": int64 [B, L]}
    (map_batches)."""
    keys, passes = batch["key"], batch["pass"]
    images = np.empty((len(keys), transform.size, transform.size, 3), dtype=np.uint8)
    for i, data in enumerate(batch["image"]):
        rng = None
        if transform.is_random:  # "crop": the stream of draws a crop-only run already used
            rng = _sample_rng(seed, int(passes[i]), str(keys[i]), "crop")
        images[i] = transform(bytes(data), rng)
    tokens = _tokenizer(tokenizer)([str(c) for c in batch["caption"]])
    return {"key": keys, "image": images, "tokens": np.asarray(tokens, dtype=np.int64)}


def _reserve_cpus(cpus: int, name: str, timeout_s: float = 120.0):  # -> PlacementGroup
    """CPUs for this worker's ingest, reserved as a placement group. Ray Data would otherwise
    size itself from the autoscaling coordinator's share of the CPUs left beside the workers,
    which rounds down per node and per dataset: one free CPU on a node, two workers' datasets
    asking, and neither gets any (Ray 2.60). A reservation is explicit and cannot starve.

    A placement group lives as long as the job, not the worker that made it: the group of a
    worker that was killed (a lost node, a restart of the worker group) is found by its `name`
    (the run and the rank) and removed before this one is made."""
    import ray
    from ray.util.placement_group import (
        get_placement_group,
        placement_group,
        remove_placement_group,
    )

    try:
        stale = get_placement_group(name)
    except ValueError:  # none by that name
        stale = None
    if stale is not None:
        remove_placement_group(stale)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # removal is asynchronous; the name must be free
            try:
                get_placement_group(name)
            except ValueError:
                break
            time.sleep(0.2)
    group = placement_group([{"CPU": 1}] * cpus, strategy="PACK", name=name)
    ready, _ = ray.wait([group.ready()], timeout=timeout_s)
    if not ready:
        remove_placement_group(group)
        raise RuntimeError(
            f"could not reserve {cpus} CPU(s) for a training worker's data ingest in "
            f"{timeout_s:.0f} s: the cluster needs train.num_workers x (cpus_per_worker + "
            "data_cpus_per_worker) CPUs (lower train.data_cpus_per_worker, or add CPU nodes)"
        )
    return group


def _window_rows(location, pieces, excluded, transform, tokenizer: str, seed: int, captions):
    """One window's prepared samples as one batch: a short Ray Data execution, read to the end
    as fast as it produces (so it finishes instead of idling in backpressure)."""
    import ray.data

    dataset = ray.data.read_datasource(
        _datasource(location, pieces, excluded, seed, captions), override_num_blocks=len(pieces)
    ).map_batches(
        prepare_batch,
        batch_format="numpy",
        fn_kwargs={"transform": transform, "tokenizer": tokenizer, "seed": seed},
    )
    total, filled = sum(piece.take for piece in pieces), 0
    window: dict[str, np.ndarray] = {}
    for part in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=8):
        rows = len(part["key"])
        for column, values in part.items():  # filled in place: no second copy of the window
            if column not in window:  # strings as objects: a later batch's may be longer
                dtype = object if values.dtype.kind in "USO" else values.dtype
                window[column] = np.empty((total, *values.shape[1:]), dtype=dtype)
            window[column][filled : filled + rows] = values
        filled += rows
    if filled != total:
        raise ValueError(f"a window read {filled} samples where its pieces promise {total}")
    return window


RECYCLE_EVERY = 64  # windows a reader actor reads before a fresh one takes over


def _use_reservation(group) -> None:
    """This process's Ray Data runs in order, quietly, on the reserved CPUs."""
    import ray.data
    from ray.util.annotations import RayDeprecationWarning
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the order is the plan's, not Ray's
    context.enable_progress_bars = False  # the training's own progress line says enough
    context.print_on_execution_start = False
    with warnings.catch_warnings():
        # deprecated after January 2027, and in 2.60 the only way Ray Data sizes itself
        # from a reservation instead of the coordinator (docs/streaming.md)
        warnings.simplefilter("ignore", RayDeprecationWarning)
        context.scheduling_strategy = PlacementGroupSchedulingStrategy(group)
        context.scheduling_strategy_large_args = PlacementGroupSchedulingStrategy(group)


class WindowReader:
    """A Ray actor (no CPU of its own) that reads windows for one worker: each `read` is one
    short Ray Data execution on the worker's reserved CPUs, its arrays returned through the
    object store. Ray Data 2.60 keeps some tens of KB per execution in the process that runs
    it; an actor is replaced every RECYCLE_EVERY windows, so nothing grows with the corpus."""

    def __init__(
        self, group, location, excluded, transform, tokenizer: str, seed: int, captions
    ) -> None:
        import logging

        # one "Dataset ... execution finished" line per window would flood the driver's log
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        _use_reservation(group)
        self.args = (location, excluded, transform, tokenizer, seed, captions)

    def read(self, windows: list[list[Piece]]) -> dict[str, np.ndarray]:
        """Consecutive windows in one execution, as one batch (`split_read` cuts it back)."""
        location, excluded, transform, tokenizer, seed, captions = self.args
        pieces = [piece for window in windows for piece in window]
        return _window_rows(location, pieces, excluded, transform, tokenizer, seed, captions)


def group_windows(windows: list[list[Piece]], rows_per_read: int) -> list[list[list[Piece]]]:
    """Consecutive windows read by one Ray Data execution: the first alone, so the first step
    waits for one window; then each read at most twice the one before, up to `rows_per_read`
    samples (the shuffle buffer's budget), so a read is ready before the steps have used the
    one before it (one read of the whole budget at once left the steps waiting a minute).

    An execution costs about a second of CPU whatever it reads, and a window is at most one
    pass of a rank's data: a small corpus trained for many epochs (the default: 100 passes of
    907 samples a rank) would otherwise pay it every few steps."""
    groups: list[list[list[Piece]]] = []
    rows = cap = 0
    for window in windows:
        size = sum(piece.take for piece in window)
        if not groups or rows + size > cap:
            cap = min(max(2 * rows, size), rows_per_read) if groups else size
            groups.append([])
            rows = 0
        groups[-1].append(window)
        rows += size
    return groups


def split_read(rows: dict[str, np.ndarray], windows: list[list[Piece]]):
    """One read's batch -> each window's rows (views: no copy)."""
    start = 0
    for window in windows:
        end = start + sum(piece.take for piece in window)
        yield {column: values[start:end] for column, values in rows.items()}
        start = end


def stream(
    location: CorpusLocation,
    windows: list[list[Piece]],
    excluded: Mapping[str, tuple[str, ...]],
    transform: ImageTransform,
    tokenizer: dict,
    seed: int,
    cpus: int = 1,
    name: str | None = None,
    captions: CaptionTemplates = NO_TEMPLATES,
    rows_per_read: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Each window's prepared samples, in the plan's order, as one numpy batch per window.

    Consecutive windows up to `rows_per_read` samples (0: one window) are one Ray Data
    execution on `cpus` CPUs reserved for this stream (under `name`, one per run and rank, so
    a restarted worker finds its predecessor's reservation), run by a reader actor on this node
    one read ahead of the steps: the first read starts now, while the model is built. Ray
    Data's executor runs only while a read is under way, then finishes. (One execution for the
    whole run kept its scheduling loop busy for the whole run: on 2 cores it slowed each step
    of the default profile from 1.4 to 2.6 s.)"""
    import ray
    from ray.util.placement_group import remove_placement_group
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if not windows:
        return iter(())
    group = _reserve_cpus(cpus, name or f"clip-ingest-{uuid.uuid4().hex[:12]}")
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    actor = ray.remote(num_cpus=0)(WindowReader).options(scheduling_strategy=here)
    args = (group, location, dict(excluded), transform, json.dumps(tokenizer, sort_keys=True))

    def new_reader():
        return actor.remote(*args, seed, captions)

    reads = group_windows(windows, rows_per_read)
    reader = new_reader()
    pending = reader.read.remote(reads[0])

    def consume() -> Iterator[dict[str, np.ndarray]]:
        nonlocal reader, pending
        try:
            for index, read in enumerate(reads):
                rows = ray.get(pending)
                if index + 1 < len(reads):
                    if (index + 1) % RECYCLE_EVERY == 0:
                        ray.kill(reader)
                        reader = new_reader()
                    pending = reader.read.remote(reads[index + 1])
                yield from split_read(rows, read)
                del rows  # the read's memory goes before the next is taken
        finally:
            ray.kill(reader)
            remove_placement_group(group)

    return consume()
