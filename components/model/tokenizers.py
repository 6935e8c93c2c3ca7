"""Choose, build, save and load a tokenizer: a word tokenizer or a byte-level BPE learned from
the captions, or CLIP's original BPE. All share one interface (encode, __call__, to_dict, sot,
eot, vocab_size)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from components.model.bpe_tokenizer import ClipBPETokenizer
from components.model.config import TextConfig
from components.model.tokenizer import WordTokenizer
from components.model.wheel_data import DEFAULT_CACHE
from components.model.wordpiece import WordPieceTokenizer

TokenizerKind = Literal["word", "bpe", "clip-bpe", "wordpiece"]
Tokenizer = WordTokenizer | ClipBPETokenizer | WordPieceTokenizer


def build_tokenizer(
    kind: TokenizerKind,
    captions: Iterable[str],
    text_cfg: TextConfig,
    data_cache: Path = DEFAULT_CACHE,
) -> Tokenizer:
    """The word tokenizer and the BPE learn from `captions`; CLIP's own BPE is fixed."""
    if kind == "word":
        return WordTokenizer.train(captions, text_cfg.vocab_size, text_cfg.context_length)
    if kind == "bpe":
        from components.model.bpe_trainer import train_bpe

        return train_bpe(captions, text_cfg.vocab_size, text_cfg.context_length)
    if kind == "wordpiece":  # the packaged MiniLM's own vocabulary
        return WordPieceTokenizer.from_package(text_cfg.context_length, data_cache)
    from components.model.clip_vocab import clip_vocab_path

    tokenizer = ClipBPETokenizer.from_vocab_file(
        clip_vocab_path(data_cache), text_cfg.context_length
    )
    if tokenizer.vocab_size != text_cfg.vocab_size:
        raise ValueError(
            f"the CLIP BPE has {tokenizer.vocab_size} tokens but the model's text tower expects "
            f"{text_cfg.vocab_size}: use a config with vocab_size {tokenizer.vocab_size}"
        )
    return tokenizer


def tokenizer_from_dict(data: dict) -> Tokenizer:
    kind = data.get("type", "word")
    if kind == "word":
        return WordTokenizer.from_dict(data)
    if kind == "clip-bpe":
        return ClipBPETokenizer.from_dict(data)
    if kind == "wordpiece":
        return WordPieceTokenizer.from_dict(data)
    raise ValueError(f"unknown tokenizer type {kind!r}")


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> None:
    path.write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False))


def load_tokenizer(path: Path) -> Tokenizer:
    return tokenizer_from_dict(json.loads(Path(path).read_text()))
