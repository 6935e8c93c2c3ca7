"""The model's tokenizer as a Hugging Face `tokenizers` file (tokenizer.json), so the exported
ONNX folder stands alone: `Tokenizer.from_file("tokenizer.json").encode(text).ids` gives the
rows the text tower takes ([start, ids..., end, 0...] of context_length), with no code of ours.

What the `tokenizers` pipeline cannot express is left out, and only matters for unusual text:
ftfy's repair of mojibake and the double HTML unescape of CLIP's cleaning (prompts and labels
are plain text), and, for the CLIP BPE, a special-token text glued to punctuation ("!<end_of_text>"
stays plain text in open_clip, the file makes it the end id). The export checks the file against
the model's own tokenizer on every prompt it evaluates.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from components.model.bpe_tokenizer import SPECIAL_TEXT, WORD_PATTERN, ClipBPETokenizer
from components.model.tokenizer import PAD, WordTokenizer
from components.model.wordpiece import MAX_WORD_CHARS, WordPieceTokenizer

# The word tokenizer's split (components/model/tokenizer.py), as Oniguruma reads it.
WORD_SPLIT = r"[\p{L}\p{N}]+|[^\s\p{L}\p{N}]"
SOT, EOT, PAD_TOKEN, UNK_TOKEN = "<|startoftext|>", "<|endoftext|>", "<pad>", "<unk>"


# What ftfy.fix_text does to ordinary text, as plain replacements: straight quotes, Latin
# ligatures taken apart, fullwidth ASCII made normal width; then CLIP's HTML unescaping of the
# entities that occur in captions (three &amp; passes undo the double escaping it undoes).
_QUOTES = ((r"[ʼ‘-‛]", "'"), (r"[“-‟]", '"'))
_LIGATURES = {
    "Ĳ": "IJ", "ĳ": "ij", "ŉ": "ʼn", "Ǳ": "DZ", "ǲ": "Dz", "ǳ": "dz", "Ǆ": "DŽ", "ǅ": "Dž",
    "ǆ": "dž", "Ǉ": "LJ", "ǈ": "Lj", "ǉ": "lj", "Ǌ": "NJ", "ǋ": "Nj", "ǌ": "nj", "ﬀ": "ff",
    "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "ſt", "ﬆ": "st",
}  # fmt: skip
_WIDE = {  # fullwidth ASCII, halfwidth katakana and hangul, the ideographic space
    chr(cp): unicodedata.normalize("NFKC", chr(cp))
    for cp in range(0xFF01, 0xFFF0)
    if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
} | {"\u3000": " "}
_ENTITIES = (("&amp;", "&"),) * 3 + (
    ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#39;", "'"), ("&apos;", "'"),
    ("&nbsp;", "\u00a0"),
)  # fmt: skip


def _clip_normalizer():
    from tokenizers import Regex, normalizers

    steps = [normalizers.Replace(Regex(pattern), text) for pattern, text in _QUOTES]
    steps += [normalizers.Replace(a, b) for a, b in (*_LIGATURES.items(), *_WIDE.items())]
    steps += [normalizers.Replace(a, b) for a, b in _ENTITIES]
    # then CLIP's own: NFC (ftfy's last step), collapsed whitespace, lower case
    steps += [
        normalizers.NFC(),
        normalizers.Replace(Regex(r"\s+"), " "),
        normalizers.Strip(),
        normalizers.Lowercase(),
    ]
    return normalizers.Sequence(steps)


def _frame(tok, sot: tuple[str, int], eot: tuple[str, int], context_length: int, pad: str) -> None:
    """Rows as every tokenizer here frames them: start, ids (truncated so the end stays), end,
    then padding with 0 up to context_length."""
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single=f"{sot[0]} $A {eot[0]}", special_tokens=[sot, eot]
    )
    tok.enable_truncation(max_length=context_length)
    tok.enable_padding(length=context_length, pad_id=PAD, pad_token=pad)


def _word(tokenizer: WordTokenizer):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    vocab = {UNK_TOKEN: 1} | {word: i + 2 for i, word in enumerate(tokenizer.words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    tok.normalizer = _clip_normalizer()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_SPLIT), behavior="removed", invert=True)
    _frame(tok, (SOT, tokenizer.sot), (EOT, tokenizer.eot), tokenizer.context_length, PAD_TOKEN)
    return tok


def _bpe(tokenizer: ClipBPETokenizer):
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

    vocab = dict(tokenizer.encoder)
    # the special tokens written as text get the start and end ids, as open_clip gives them
    vocab |= dict(zip(SPECIAL_TEXT, (tokenizer.sot, tokenizer.eot), strict=True))
    tok = Tokenizer(models.BPE(vocab, list(tokenizer.merges), end_of_word_suffix="</w>"))
    tok.normalizer = _clip_normalizer()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.add_special_tokens([AddedToken(text, normalized=True) for text in SPECIAL_TEXT])
    pad = next(token for token, i in tokenizer.encoder.items() if i == PAD)  # "!": open_clip pads 0
    _frame(tok, (SOT, tokenizer.sot), (EOT, tokenizer.eot), tokenizer.context_length, pad)
    return tok


def _wordpiece(tokenizer: WordPieceTokenizer):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {token: i for i, token in enumerate(tokenizer.vocab)}
    tok = Tokenizer(
        models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=MAX_WORD_CHARS)
    )
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, lowercase=tokenizer.lower_case
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    _frame(tok, ("[CLS]", tokenizer.sot), ("[SEP]", tokenizer.eot), tokenizer.context_length,
           "[PAD]")  # fmt: skip
    return tok


def hf_tokenizer(tokenizer: Any):  # -> tokenizers.Tokenizer
    """The `tokenizers` equivalent of one of this project's tokenizers."""
    if isinstance(tokenizer, WordTokenizer):
        return _word(tokenizer)
    if isinstance(tokenizer, ClipBPETokenizer):
        return _bpe(tokenizer)
    if isinstance(tokenizer, WordPieceTokenizer):
        return _wordpiece(tokenizer)
    raise TypeError(f"no tokenizer.json for a {type(tokenizer).__name__}")


def mismatches(tokenizer: Any, hf, texts: list[str]) -> list[str]:
    """The texts whose rows differ between the model's tokenizer and the file's."""
    got = [encoding.ids for encoding in hf.encode_batch(texts)]
    return [text for text, ids in zip(texts, got, strict=True) if ids != tokenizer.encode(text)]
