"""One promotion at a time per registered model: read champion, decide, move alias, atomically.

Two promotions racing would both read the same champion and could both move the alias, leaving
the worse one in place. An exclusive file lock serialises them on one machine or a shared
filesystem; the Prefect flow also holds a Prefect concurrency slot for servers and clusters.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.errors import UserError


class PromotionBusy(UserError):
    """Another promotion of the same model held the lock for too long."""


@contextmanager
def promotion_lock(folder: Path, model_name: str, timeout_s: float = 120) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".promote-{model_name}.lock"
    deadline = time.monotonic() + timeout_s
    with path.open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PromotionBusy(
                        f"another promotion of {model_name} holds {path} for over {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
