"""Run names, resume compatibility and `--set` overrides: clear errors, not surprises."""

from __future__ import annotations

import pytest

from components.data.corpus.location import CorpusLocation
from components.model.config import load_config
from components.settings import ConfigError, load_settings, parse_overrides
from components.training.loop_config import LoopConfig
from components.training.run_spec import (
    ResumeError,
    check_run_name,
    check_same_run,
    new_run_name,
    run_spec,
)


def _loop_config(**train):
    settings = load_settings("tiny", overrides={"train": train})
    return LoopConfig(
        train=settings.train,
        model=load_config("clip-tiny"),
        tokenizer={"kind": "word", "vocab": ["a"]},
        corpus=CorpusLocation.of(settings.paths.data),
        shards={"train/000000.tar": (9, ("x",))},
        data_cache=settings.services.data_cache,
        tracking_uri=settings.tracking_uri,
    )


def test_execution_changes_keep_the_run_resumable():
    before = run_spec(_loop_config(), "corpus-1")
    after = run_spec(
        _loop_config(checkpoint_every_steps=5, compile=True, data_cpus_per_worker=2), "corpus-1"
    )
    check_same_run("r", before, after)


def test_changed_training_or_data_refuses_to_resume():
    before = run_spec(_loop_config(), "corpus-1")
    with pytest.raises(ResumeError, match=r"train\.lr: 0\.002 -> 0\.01"):
        check_same_run("r", before, run_spec(_loop_config(lr=0.01), "corpus-1"))
    with pytest.raises(ResumeError, match="corpus: 'corpus-1' -> 'corpus-2'"):
        check_same_run("r", before, run_spec(_loop_config(), "corpus-2"))


def test_run_names():
    assert check_run_name(new_run_name("tiny")).startswith("train-tiny-")
    for bad in ("", "../up", "a b", "-x"):
        with pytest.raises(ResumeError, match="run name"):
            check_run_name(bad)


def test_overrides_parse_to_typed_sections():
    got = parse_overrides(["train.epochs=3", "train.precision=bf16", "train.deterministic=true"])
    assert got == {"train": {"epochs": 3, "precision": "bf16", "deterministic": True}}
    settings = load_settings("tiny", overrides=got)
    assert (settings.train.epochs, settings.train.precision) == (3, "bf16")
    for bad in ("train.epochs", "=3", "train..x=1"):
        with pytest.raises(ConfigError, match="--set"):
            parse_overrides([bad])
    with pytest.raises(ConfigError, match="train.precision"):
        load_settings("tiny", overrides=parse_overrides(["train.precision=fp8"]))


def test_the_number_of_workers_is_part_of_the_data_order():
    before = run_spec(_loop_config(), "corpus-1")
    with pytest.raises(ResumeError, match=r"train\.num_workers: 2 -> 4"):
        check_same_run("r", before, run_spec(_loop_config(num_workers=4), "corpus-1"))


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("crop_scale", [0.9, 0.2], "must be \\[low, high\\]"),
        ("crop_scale", [0.0, 1.0], "must be \\[low, high\\]"),
        ("crop_scale", [0.5, 5.0], "must be \\[low, high\\]"),
        ("corpus", "http://host/corpus", "a folder or an s3://bucket/prefix"),
        ("samples_per_epoch", 0, "greater than 0"),
    ],
)
def test_streaming_settings_are_checked_at_load(key, value, said):
    with pytest.raises(ConfigError, match=said):
        load_settings("tiny", overrides={"train": {key: value}})
