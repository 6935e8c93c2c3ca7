"""CLIP's byte-level BPE tokenizer: the same ids as OpenAI CLIP and open_clip.

Text is cleaned (ftfy, HTML unescape, whitespace collapse, lower-case), split into words, each
word's UTF-8 bytes mapped to printable characters, then merged pair by pair in the order the
merges were learned. A word's last symbol carries "</w>". Rows are [start, ids..., end, 0...],
truncated so the end token stays last.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import regex

from components.model.tokenizer import FramedTokenizer, clean_text

# open_clip's special tokens written as text: a caption that holds them literally gets the
# special ids, as open_clip 3.x tokenizes it ("<|startoftext|>", OpenAI's spelling, is plain
# text there: "<|", "startoftext", "|>").
SPECIAL_TEXT = ("<start_of_text>", "<end_of_text>")
# The special tokens, contractions, letter runs, single digits, runs of other non-space characters.
WORD_PATTERN = (
    "|".join(SPECIAL_TEXT) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)
_WORDS = regex.compile(WORD_PATTERN, regex.IGNORECASE)


def bpe_words(text: str) -> list[str]:
    """The cleaned text's words, as BPE sees them (special tokens included)."""
    return _WORDS.findall(clean_text(text))


N_MERGES = 49152 - 256 - 2  # the merges CLIP uses out of the file


@lru_cache(maxsize=1)
def byte_to_char() -> dict[int, str]:
    """Every byte as a printable character: printable Latin-1 bytes map to themselves, the
    others to code points from 256 up, so no merge ever involves whitespace or control bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), 256),
    ]
    # Insertion order is the vocabulary order: the printable bytes first, then the others.
    mapping = {byte: chr(byte) for byte in printable}
    others = [byte for byte in range(256) if byte not in mapping]
    mapping |= {byte: chr(256 + n) for n, byte in enumerate(others)}
    return mapping


def merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Every left-to-right occurrence of `pair` joined into one symbol."""
    merged, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


class ClipBPETokenizer(FramedTokenizer):
    def __init__(self, merges: list[tuple[str, str]], context_length: int = 77) -> None:
        symbols = list(byte_to_char().values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.merges = merges
        self.encoder = {token: i for i, token in enumerate(vocab)}
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.vocab_size = len(vocab)
        self.context_length = context_length
        self.sot, self.eot = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_vocab_file(cls, path: Path, context_length: int = 77) -> ClipBPETokenizer:
        lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]  # line 0 is a header
        return cls(merges, context_length)

    def _bpe(self, word: str) -> list[str]:
        if word in self._cache:
            return self._cache[word]
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = {(a, b) for a, b in zip(parts, parts[1:], strict=False)}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            parts = merge_pair(parts, best)
        self._cache[word] = parts
        return parts

    def encode_ids(self, text: str) -> list[int]:
        """BPE ids of `text`, without start/end tokens."""
        table = byte_to_char()
        special = dict(zip(SPECIAL_TEXT, (self.sot, self.eot), strict=True))
        ids = []
        for word in bpe_words(text):
            if word in special:  # cleaning lower-cased it, so the match is exact here
                ids.append(special[word])
                continue
            chars = "".join(table[b] for b in word.encode("utf-8"))
            ids += [self.encoder[piece] for piece in self._bpe(chars)]
        return ids

    def to_dict(self) -> dict:
        return {
            "type": "clip-bpe",
            "context_length": self.context_length,
            "merges": [" ".join(m) for m in self.merges],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ClipBPETokenizer:
        return cls([tuple(m.split(" ")) for m in data["merges"]], data["context_length"])
