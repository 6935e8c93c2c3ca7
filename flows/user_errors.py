"""Prefect logs a failed run's exception with its traceback. For a user's mistake (a UserError:
bad data, bad parameters) the message says everything, so the traceback is dropped."""

from __future__ import annotations

import logging

from components.errors import UserError

_RUN_LOGGERS = (
    "prefect.task_runs",
    "prefect.flow_runs",
    "prefect.flow_engine",
    "prefect.task_engine",
)


class DropUserErrorTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], UserError):
            record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """Idempotent: add the filter to Prefect's run loggers once."""
    for name in _RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropUserErrorTraceback) for f in logger.filters):
            logger.addFilter(DropUserErrorTraceback())
