"""The Ray a data stage runs its distributed work on: the settings' cluster, or a local one
started for the stage and stopped after; and Ray Data set up for ordered, quiet runs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from components.errors import UserError


class RayClusterUnreachable(UserError, ConnectionError):
    """The Ray cluster the settings name (RAY_ADDRESS, the local stack) does not answer."""


def connect(address: str, **options: object) -> None:
    """ray.init on the cluster at `address`; one clear line when it does not answer."""
    import ray

    try:
        ray.init(address=address, **options)
    except ConnectionError as err:
        raise RayClusterUnreachable(
            f"the Ray cluster at {address} (RAY_ADDRESS, or the local stack's) does not answer: "
            f"{' '.join(str(err).split())[:200]}; start it (`clip-pipeline stack up`, `ray "
            "start`) or unset RAY_ADDRESS to run on a local Ray"
        ) from err


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
        connect(address, log_to_driver=False)
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


_remotes: dict[Callable[..., Any], Any] = {}


def retried_task(function: Callable[..., Any]) -> Any:
    """`function` as a Ray task of one CPU, run again up to 3 times when its worker dies; made
    once per process (Ray is imported only by a build that uses it)."""
    if function not in _remotes:
        import ray

        _remotes[function] = ray.remote(num_cpus=1, max_retries=3)(function)
    return _remotes[function]
