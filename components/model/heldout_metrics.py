"""How the held-out styles' zero-shot metrics are named, and back: the evaluation writes them,
the training's probe and the registry's paired comparison find their split from a metric name.

`heldout_style` (data.heldout_package, OpenMoji) -> zeroshot_heldout_top1, ...;
`heldout_twemoji` (data.extra_heldout_packages) -> zeroshot_heldout_twemoji_top1, ...
"""

from __future__ import annotations

import re

from components.data.corpus.splits import HELDOUT, STYLES, heldout_split

# top-k of one held-out split over all its images: a mean of per-image hits
_PER_IMAGE = re.compile(r"^zeroshot_heldout(?:_(?P<style>[a-z]+))?_top(?P<k>\d+)$")


def metric_prefix(split: str) -> str:
    """heldout_style -> zeroshot_heldout; heldout_twemoji -> zeroshot_heldout_twemoji."""
    return "zeroshot_heldout" if split == HELDOUT else f"zeroshot_{split}"


def per_image_metric(metric: str) -> tuple[str, int] | None:
    """zeroshot_heldout_twemoji_top1 -> ("heldout_twemoji", 1); None for a metric that is not
    the top-k of a whole held-out split (retrieval, a label set, the flags part)."""
    found = _PER_IMAGE.match(metric)
    if not found:
        return None
    style = found.group("style")
    if style is not None and style not in STYLES:
        return None
    return (heldout_split(style) if style else HELDOUT), int(found.group("k"))


def probed_split(gate_metric: str) -> str:
    """The held-out split the training's zero-shot probe follows: the gate metric's, when it
    is one; else the held-out style."""
    found = per_image_metric(gate_metric)
    return found[0] if found else HELDOUT
