"""A byte-level BPE learned from captions, in CLIP's format."""

from __future__ import annotations

import pytest

from components.model.bpe_trainer import BASE_TOKENS, train_bpe
from components.model.config import load_config
from components.model.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer

CAPTIONS = [
    "red heart",
    "blue heart",
    "broken heart",
    "hot pepper",
    "hot beverage",
    "red apple",
] * 3


def test_frequent_words_become_single_tokens_and_ids_stay_in_range():
    tok = train_bpe(CAPTIONS, 600, context_length=16)
    pieces = list(tok.encoder)
    assert [pieces[i] for i in tok.encode_ids("red heart")] == ["red</w>", "heart</w>"]
    assert tok.vocab_size <= 600 and tok.eot == tok.vocab_size - 1  # argmax finds the end
    row = tok.encode("a never seen word: zebra")
    assert max(row) == tok.eot and len(row) == 16


def test_training_is_deterministic_and_capped():
    a = train_bpe(CAPTIONS, 530)
    assert a.merges == train_bpe(list(reversed(CAPTIONS)), 530).merges
    assert len(a.merges) == 530 - BASE_TOKENS  # stops at the requested size
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(CAPTIONS, BASE_TOKENS)


def test_build_and_round_trip_through_json(tmp_path):
    tok = build_tokenizer("bpe", CAPTIONS, load_config("clip-tiny").text_cfg)
    save_tokenizer(tok, tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again.encode("hot red pepper") == tok.encode("hot red pepper")
    assert tok.vocab_size <= 4096
