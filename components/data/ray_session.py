"""The Ray a data stage runs its distributed work on: the settings' cluster, or a local one
started for the stage and stopped after; and Ray Data set up for ordered, quiet runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ray_session(address: str | None, temp_dir: str) -> Iterator[None]:
    """The cluster at `address`, or a local Ray (its files under `temp_dir`); one already
    initialised in this process is used as it is. Without an address the local Ray is a new
    one: `address="local"`, because Ray's default would attach to any Ray already running on
    the machine (another user's, another job's)."""
    import ray

    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(address="local", include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def ordered_quiet_data_context() -> None:
    """Outputs in input order (answer i belongs to item i), and no per-run progress bars or
    INFO lines: the stage reports its own progress."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
