"""Checks on one caption's bytes: strict UTF-8, no control characters, within the length bounds."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from components.checks.reasons import Problem, Reason

if TYPE_CHECKING:
    from components.checks.limits import SampleLimits


# Unicode category Cc: C0 controls, DEL and C1 controls. Tab and newline are layout, not
# control; a newline may come as CRLF (a table written on Windows).
ALLOWED_CONTROLS = frozenset("\t\n")


def control_characters(text: str) -> str:
    """The control characters of `text` (first few, escaped), or '' when it has none."""
    text = text.replace("\r\n", "\n")
    found = sorted({c for c in text if unicodedata.category(c) == "Cc"} - ALLOWED_CONTROLS)
    return ", ".join(repr(c) for c in found[:4])


def check_caption(data: bytes, cfg: SampleLimits) -> Problem | None:
    """The caption as training will read it: strict UTF-8, trimmed, no control characters,
    within the length bounds."""
    if not data:
        return Problem(Reason.EMPTY_CAPTION, "caption is empty")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 4]
        return Problem(Reason.NON_UTF8_CAPTION, f"byte {err.start} is not UTF-8 ({bad!r}...)")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return Problem(Reason.WHITESPACE_CAPTION, "caption is only whitespace")
    control = control_characters(text)  # before trimming: str.strip() eats \x1c-\x1f too
    if control:
        return Problem(Reason.CONTROL_CHARACTERS, f"caption holds control characters {control}")
    text = text.strip()
    if len(text) < cfg.min_caption_chars:
        return Problem(
            Reason.CAPTION_TOO_SHORT,
            f"caption has {len(text)} characters, below validate.min_caption_chars="
            f"{cfg.min_caption_chars}",
        )
    if len(text) > cfg.max_caption_chars:
        return Problem(
            Reason.CAPTION_TOO_LONG,
            f"caption has {len(text)} characters, above validate.max_caption_chars="
            f"{cfg.max_caption_chars}",
        )
    return None
