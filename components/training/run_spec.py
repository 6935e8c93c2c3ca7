"""What a training run is, so that a resume continues the same run and nothing else.

A run folder records the spec it was started with. Starting the same run name again resumes
only if the spec is unchanged, except for how the run is executed (workers, GPUs, placement,
checkpoint interval, compile, ...): the data order does not depend on the number of workers,
so a run may resume on a different cluster shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from components.errors import UserError

if TYPE_CHECKING:
    from components.training.loop_config import LoopConfig

# train.* keys a resumed run may change: they change how, not what, it trains
EXECUTION_KEYS = frozenset(
    {
        "use_gpu",
        "cpus_per_worker",
        "gpus_per_worker",
        "resources_per_worker",
        "placement_strategy",
        "storage_path",
        "corpus",  # where the shards are read from; the manifest's hash says what they are
        "data_cpus_per_worker",
        "max_failures",
        "checkpoint_every_steps",
        "system_metrics_interval_s",
        "compile",
        "channels_last",
        "deterministic",
        "text_cache_entries",  # a locked tower's features, cached or not, are the same
    }
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ResumeError(UserError):
    """The named run cannot be continued with this configuration."""


def new_run_name(profile: str) -> str:
    return f"train-{profile}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def check_run_name(name: str) -> str:
    if not _NAME.match(name):
        raise ResumeError(
            f"run name {name!r}: use letters, digits, '.', '_' and '-' (at most 128, "
            "starting with a letter or digit)"
        )
    return name


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def run_spec(loop: LoopConfig, corpus: str) -> dict[str, Any]:
    """The parts of a run's configuration that decide its weights, flattened for comparison."""
    train = {k: v for k, v in loop.train.model_dump().items() if k not in EXECUTION_KEYS}
    return {
        **{f"train.{k}": v for k, v in sorted(train.items())},
        "model": _digest(loop.model.model_dump()),
        "tokenizer": _digest(loop.tokenizer),
        "corpus": corpus,  # the manifest's sha256
        "quarantine": _digest(sorted(loop.excluded().items())),
        "init_from": str(loop.init_from) if loop.init_from else None,
    }


def check_same_run(name: str, recorded: dict[str, Any], now: dict[str, Any]) -> None:
    keys = sorted(set(recorded) | set(now))
    differ = [k for k in keys if recorded.get(k) != now.get(k)]
    if differ:
        shown = "; ".join(f"{k}: {recorded.get(k)!r} -> {now.get(k)!r}" for k in differ[:6])
        raise ResumeError(
            f"run {name!r} was started with a different configuration ({shown}). "
            "Restore those settings to continue it, or train under a new --run-name"
        )
