"""CLIP's BPE with the original vocabulary: the same ids as OpenAI CLIP."""

from __future__ import annotations

import hashlib

import pytest

from components.model.bpe_tokenizer import ClipBPETokenizer
from components.model.clip_vocab import clip_vocab_path
from components.model.config import load_config
from components.model.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory) -> ClipBPETokenizer:
    path = clip_vocab_path(tmp_path_factory.mktemp("vocab"))
    # the vocabulary file of open_clip_torch 3.3.0 (its wheel is pinned by sha256 as well)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
    )
    return ClipBPETokenizer.from_vocab_file(path)


def test_golden_ids_for_a_prompt(tokenizer):
    row = tokenizer.encode("a photo of a dog.")
    assert row[:8] == [49406, 320, 1125, 539, 320, 1929, 269, 49407]
    assert row[8:] == [0] * 69 and len(row) == 77
    assert tokenizer.vocab_size == 49408


def test_overlong_text_keeps_the_end_token_last(tokenizer):
    row = tokenizer.encode("a very long caption " * 40)
    assert len(row) == 77 and row[0] == 49406 and row[-1] == 49407 and 0 not in row


def test_cleaning_case_html_and_whitespace(tokenizer):
    assert tokenizer.encode("A  PHOTO\tof a Dog.") == tokenizer.encode("a photo of a dog.")
    assert tokenizer.encode_ids("fish &amp; chips") == tokenizer.encode_ids("fish & chips")


def test_any_unicode_encodes_and_round_trips_through_json(tokenizer, tmp_path):
    text = "naïve café — 東京 🐶 it's 2024"
    ids = tokenizer.encode_ids(text)
    assert ids and all(0 < i < 49406 for i in ids)
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(again, ClipBPETokenizer) and again.encode(text) == tokenizer.encode(text)


def test_bpe_needs_a_text_tower_of_its_size():
    with pytest.raises(ValueError, match="49408"):
        build_tokenizer("clip-bpe", [], load_config("clip-tiny").text_cfg)
    assert build_tokenizer("clip-bpe", [], load_config("ViT-B-32").text_cfg).vocab_size == 49408
