"""Token for token the ids of open_clip 3.3.0's own tokenizer, on fuzzed text.

open_clip's tokenizer.py is taken from its pinned wheel (with the vocabulary beside it) and
imported on its own; the project never imports it.
"""

from __future__ import annotations

import importlib.util
import random
import sys

import pytest

from components.model.bpe_tokenizer import ClipBPETokenizer
from components.model.clip_vocab import WHEEL, WHEEL_SHA256, clip_vocab_path
from components.model.wheel_data import wheel_data

N_STRINGS = 3007
PIECES = (
    "a photo of a", "dog", "Hot Pepper", "café", "naïve", "東京", "🐶", "👍🏽", "🇫🇷", "it's",
    "they'll", "DON'T", "2024", "3.14", "&amp;", "&lt;b&gt;", "fish &amp;amp; chips", "Ã©",
    "<|startoftext|>", "<|endoftext|>", "<start_of_text>", "<END_OF_TEXT>", "<end_of_text",
    "start_of_text>", "<|", "|>", "—", "…", "ﬁ", "\u200b", "x²", "Ωmega", "مرحبا", "नमस्ते",
    "'s", "''", "!!!", "...", "#hashtag", "@user", "https://example.com/a?b=c", "C++", "e-mail",
)  # fmt: skip
SEPARATORS = ("", " ", "  ", "\t", "\n", " - ")


@pytest.fixture(scope="module")
def open_clip_tokenizer(tmp_path_factory):
    """open_clip's SimpleTokenizer from the pinned wheel (it reads the vocabulary beside it)."""
    folder = wheel_data(WHEEL, WHEEL_SHA256, "open_clip/", tmp_path_factory.mktemp("open_clip"))
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", folder / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module.SimpleTokenizer()
    sys.modules.pop("open_clip_tokenizer", None)


@pytest.fixture(scope="module")
def ours() -> ClipBPETokenizer:
    return ClipBPETokenizer.from_vocab_file(clip_vocab_path())


def _fuzz(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if (
                rng.random() < 0.15
            ):  # any code point of the Basic Multilingual Plane, surrogates aside
                parts.append(
                    chr(rng.choice([rng.randint(0x20, 0xD7FF), rng.randint(0xE000, 0xFFFD)]))
                )
            else:
                parts.append(rng.choice(PIECES))
            parts.append(rng.choice(SEPARATORS))
        texts.append("".join(parts))
    return texts


def test_fuzzed_text_gets_open_clips_ids(ours, open_clip_tokenizer) -> None:
    texts = _fuzz(N_STRINGS)
    want = open_clip_tokenizer(texts, context_length=77).tolist()
    got = [ours.encode(text) for text in texts]
    differ = [(t, a, b) for t, a, b in zip(texts, got, want, strict=True) if a != b]
    assert not differ, f"{len(differ)} of {len(texts)} differ, e.g. {differ[0][0]!r}"


def test_literal_special_tokens_are_tokenized_as_open_clip_does(ours, open_clip_tokenizer) -> None:
    for text in ("<start_of_text> dog", "a <END_OF_TEXT>", "<|startoftext|>", "x<|endoftext|>y"):
        assert ours.encode(text) == open_clip_tokenizer(text)[0].tolist(), text
    assert ours.encode("<start_of_text>")[:3] == [ours.sot, ours.sot, ours.eot]
    assert ours.eot not in ours.encode("<|endoftext|>")[1:-70]  # plain text, not the end id
