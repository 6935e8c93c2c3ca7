"""The gate's check of a stored sample's metadata member (<key>.json). No I/O here.

The image and caption checks the gate shares with the data build live in components/checks.
"""

from __future__ import annotations

import json

from components.checks.reasons import Problem, Reason


def check_metadata(data: bytes, sample_id: str) -> Problem | None:
    """<key>.json must parse, describe this manifest row (a stale manifest would not), and
    carry what the reader takes from it: the concept and at least one non-blank caption."""
    try:
        meta = json.loads(data)
    except ValueError as err:  # includes UnicodeDecodeError
        return Problem(Reason.BAD_METADATA, f"metadata JSON does not parse: {err}")
    if not isinstance(meta, dict):
        return Problem(Reason.BAD_METADATA, "metadata JSON is not an object")
    if meta.get("id") != sample_id:
        detail = f"metadata JSON is about id {meta.get('id')!r}, the manifest row is {sample_id!r}"
        return Problem(Reason.BAD_METADATA, detail)
    captions = meta.get("captions")
    if not isinstance(captions, list) or not captions:
        return Problem(Reason.BAD_METADATA, "metadata JSON has no 'captions' list")
    if not all(isinstance(c, str) and c.strip() for c in captions):
        return Problem(Reason.BAD_METADATA, "metadata JSON has a blank or non-text caption")
    if not isinstance(meta.get("concept"), str):
        return Problem(Reason.BAD_METADATA, "metadata JSON has no 'concept'")
    return None
