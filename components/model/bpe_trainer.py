"""Learn a byte-level BPE of a chosen size from captions, in CLIP's format.

Small corpora train much faster with a small vocabulary than with CLIP's 49,408 tokens. The
result is a ClipBPETokenizer (same cleaning, same byte mapping, same "</w>" word ends, start and
end tokens last), so everything downstream treats it like CLIP's own vocabulary.

The loop is the classic one: count adjacent symbol pairs over the distinct words (weighted by
frequency), merge the most frequent pair everywhere, repeat. Pair counts are updated only for the
words a merge touches; ties go to the smaller pair, so the same captions give the same merges.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from components.model.bpe_tokenizer import (
    SPECIAL_TEXT,
    ClipBPETokenizer,
    bpe_words,
    byte_to_char,
    merge_pair,
)

BASE_TOKENS = 2 * 256 + 2  # bytes, bytes with "</w>", start and end


def _words(texts: Iterable[str]) -> Counter[str]:
    table = byte_to_char()
    return Counter(
        "".join(table[b] for b in word.encode("utf-8"))
        for text in texts
        for word in bpe_words(text)
        if word not in SPECIAL_TEXT  # never merged: they map to the start and end ids
    )


def _pairs(symbols: list[str]) -> list[tuple[str, str]]:
    return list(zip(symbols, symbols[1:], strict=False))


def train_bpe(
    texts: Iterable[str], vocab_size: int, context_length: int = 77, min_frequency: int = 2
) -> ClipBPETokenizer:
    """A tokenizer of at most `vocab_size` ids; fewer when no pair is seen `min_frequency` times."""
    if vocab_size <= BASE_TOKENS:
        raise ValueError(f"a byte-level BPE needs a vocab_size above {BASE_TOKENS}")
    counts = _words(texts)
    words = [[*w[:-1], w[-1] + "</w>"] for w in counts]
    freqs = list(counts.values())
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, symbols in enumerate(words):
        for pair in _pairs(symbols):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)

    merges: list[tuple[str, str]] = []
    while len(merges) < vocab_size - BASE_TOKENS and pair_counts:
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        if pair_counts[best] < min_frequency:
            break
        merges.append(best)
        for i in where.pop(best):
            for pair in _pairs(words[i]):  # the word's old pairs leave the counts
                pair_counts[pair] -= freqs[i]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
                if pair != best:
                    where[pair].discard(i)
            words[i] = merge_pair(words[i], best)
            for pair in _pairs(words[i]):  # and its new ones come in
                pair_counts[pair] += freqs[i]
                where[pair].add(i)
    return ClipBPETokenizer(merges, context_length)
