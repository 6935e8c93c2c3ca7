"""Which user candidates enter the corpus: every check on the source, before anything is stored.

The caption (strict UTF-8, no control characters, length) and the image as the user gave it
(format, full decode, pixel cap, sides and aspect ratio before any resize) are checked with the
same functions the validation gate uses (a second copy of the same bytes is found by the
ingest: seen_images.py). A rejected candidate leaves only its reference, reason and sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from components.checks.caption import check_caption, control_characters
from components.checks.image import check_image
from components.checks.limits import SampleLimits
from components.checks.reasons import Problem, Reason
from components.data.corpus.raw_text import as_bytes
from components.data.corpus.records import unique_in_order
from components.data.sources.user_records import UserCandidate

MIN_FOR_POOL = 32  # below this, threads cost more than they save


def _captions(candidate: UserCandidate, limits: SampleLimits) -> tuple[str, ...] | Problem:
    """The decoded captions (primary first), or the first problem. The primary caption is the
    first non-blank one and gets every check; the others must be UTF-8 without controls."""
    given = candidate.captions or (b"",)
    primary = next((c for c in given if c.strip()), given[0])
    problem = check_caption(primary, limits)
    if problem is not None:
        return problem
    texts = [primary.decode("utf-8")]  # checked above; the primary caption leads
    for n, raw in enumerate(given, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return Problem(Reason.NON_UTF8_CAPTION, f"caption {n}: byte {err.start} is not UTF-8")
        control = control_characters(text)
        if control:
            return Problem(Reason.CONTROL_CHARACTERS, f"caption {n} holds {control}")
        texts.append(text)
    return unique_in_order(texts)


def _license(candidate: UserCandidate) -> Problem | None:
    """The license is stored in the sample's metadata: it must be text a report can hold."""
    try:
        text = as_bytes(candidate.license).decode("utf-8")
    except UnicodeDecodeError as err:
        return Problem(Reason.BAD_METADATA, f"the license: byte {err.start} is not UTF-8")
    control = control_characters(text)
    return Problem(Reason.BAD_METADATA, f"the license holds {control}") if control else None


Verdict = tuple[str, tuple[str, ...] | Problem]  # sha256 of the bytes, the captions or why not


def verdict_of(candidate: UserCandidate, limits: SampleLimits) -> Verdict:
    """Thread-safe: no shared state."""
    sha = hashlib.sha256(candidate.data).hexdigest()
    captions = _captions(candidate, limits)
    if isinstance(captions, Problem):
        return sha, captions
    license_problem = _license(candidate)
    if license_problem is not None:
        return sha, license_problem
    image = check_image(candidate.data, limits)
    return sha, captions if image.problem is None else image.problem


def check_window(
    candidates: Sequence[UserCandidate], limits: SampleLimits, pool: ThreadPoolExecutor | None
) -> list[Verdict]:
    """One verdict per candidate, in order; on `pool`'s threads (Pillow decodes without the
    GIL) when there are enough of them to be worth it."""
    if pool is not None and len(candidates) >= MIN_FOR_POOL:
        return list(pool.map(verdict_of, candidates, [limits] * len(candidates)))
    return [verdict_of(candidate, limits) for candidate in candidates]
