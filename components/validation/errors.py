"""The error the validation gate raises. It carries the full report, so a caller (the Prefect
flow, the CLI) can show or log the numbers without re-reading validation.json."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.errors import UserError

if TYPE_CHECKING:
    from components.validation.report import ValidationReport


class GateFailed(UserError):
    """The corpus did not pass validation. The message is one paragraph for the user."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[type[GateFailed], tuple[str, ValidationReport]]:
        # Prefect and Ray pickle task errors; the default would rebuild from args alone
        return (type(self), (str(self), self.report))
