"""The MiniLM text tower: BERT WordPiece ids, pretrained all-MiniLM-L6-v2 embeddings, LiT
freezing, strict weight loading and ONNX export.

Reference numbers were computed once with transformers 5.23.0 (torch 2.13.0, CPU) from the same
package files: BertTokenizer(model_dir) ids, BertModel(model_dir) last_hidden_state mean-pooled
over the attention mask and L2-normalised, as sentence-transformers computes its embedding.
Our tower matched them to 1.3e-7 (max abs over 10 sentences x 384 dims); ids matched on those
sentences and 3,000 random Unicode strings.
"""

from __future__ import annotations

import json
import logging

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from components.model.minilm import BertConfig, MiniLMTextTower, hf_to_local
from components.model.wordpiece import WordPieceTokenizer

logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

TINY = BertConfig(vocab_size=120, width=32, layers=2, heads=4, mlp_width=64, max_positions=24)
EMBED_ATOL = 1e-5  # observed 1.3e-7 against transformers; fp32 summation order differs

# transformers' BertTokenizer on the packaged vocabulary.
REFERENCE_IDS = {
    "A photo of a dog.": [101, 1037, 6302, 1997, 1037, 3899, 1012, 102],
    "naïve café — 東京 🐶 it's 2024!": [
        101, 15743, 7668, 1517, 1879, 1755, 100, 2009, 1005, 1055, 16798, 2549, 999, 102
    ],
    "Ünïcödé ACCENTS, \t tabs\u200b and\x00 ctrl": [
        101, 27260, 24947, 1010, 21628, 2015, 1998, 14931, 12190, 102
    ],
    "$5.00 & 100% (approx.) — e.g. U.S.A.": [
        101, 1002, 1019, 1012, 4002, 1004, 2531, 1003, 1006, 22480, 1012, 1007, 1517, 1041,
        1012, 1043, 1012, 1057, 1012, 1055, 1012, 1037, 1012, 102,
    ],
    "unaffable " + "x" * 101: [101, 14477, 20961, 3468, 100, 102],  # > 100 chars: [UNK]
}  # fmt: skip

# The first 6 of 384 dims of the normalised sentence embedding, and pairwise cosines.
REFERENCE_SENTENCES = ["a photo of a dog", "a picture of a puppy", "the stock market fell"]
REFERENCE_DIMS = [
    [-0.046960, 0.069876, 0.047995, 0.048275, 0.000391, 0.001841],
    [-0.067725, 0.067068, 0.040080, 0.003553, -0.020685, 0.016574],
    [0.042241, -0.006159, 0.057211, 0.086065, 0.011441, 0.055524],
]
REFERENCE_COSINES = {(0, 1): 0.8205773, (0, 2): 0.0008020, (1, 2): 0.0212975}


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer.from_package()


@pytest.fixture(scope="module")
def tower() -> MiniLMTextTower:
    return MiniLMTextTower.from_pretrained(embed_dim=64).eval()


def test_golden_ids_agree_with_vocab_txt(tokenizer):
    row = tokenizer.encode("A photo of a dog.")
    assert row[:8] == [101, 1037, 6302, 1997, 1037, 3899, 1012, 102]
    assert row[8:] == [0] * 69 and len(row) == 77
    # The ids are vocab.txt line numbers (from 0): check them there, not against memory.
    words = ["[CLS]", "a", "photo", "of", "a", "dog", ".", "[SEP]"]
    assert [tokenizer.vocab[i] for i in row[:8]] == words
    assert tokenizer.vocab[0] == "[PAD]" and tokenizer.vocab_size == 30522
    assert (tokenizer.sot, tokenizer.eot, tokenizer.unk) == (101, 102, 100)


@pytest.mark.parametrize("text", list(REFERENCE_IDS))
def test_ids_match_transformers(tokenizer, text):
    ids = REFERENCE_IDS[text]
    assert tokenizer.encode(text)[: len(ids)] == ids


def test_overlong_text_keeps_sep_last_and_round_trips(tokenizer):
    row = tokenizer.encode("a very long caption " * 40)
    assert len(row) == 77 and row[0] == 101 and row[-1] == 102 and 0 not in row
    again = WordPieceTokenizer.from_dict(json.loads(json.dumps(tokenizer.to_dict())))
    assert tokenizer.to_dict()["type"] == "wordpiece" and again.to_dict()["lower_case"] is True
    text = "Naïve CAFÉ, 東京!"
    assert again.encode(text) == tokenizer.encode(text)
    short = WordPieceTokenizer(tokenizer.vocab, context_length=16)
    assert short(["a dog", text]).shape == (2, 16)


def test_pretrained_embedding_matches_transformers(tokenizer, tower):
    with torch.no_grad():
        emb = F.normalize(tower.sentence_embedding(tokenizer(REFERENCE_SENTENCES)), dim=-1)
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb[:, :6], torch.tensor(REFERENCE_DIMS), atol=EMBED_ATOL, rtol=0)
    for (i, j), cosine in REFERENCE_COSINES.items():
        assert abs(float(emb[i] @ emb[j]) - cosine) < EMBED_ATOL


def test_semantics_and_padding_do_not_matter(tokenizer, tower):
    with torch.no_grad():
        dog, puppy, stocks = F.normalize(tower.sentence_embedding(tokenizer(REFERENCE_SENTENCES)))
        short = WordPieceTokenizer(tokenizer.vocab, context_length=12)
        unpadded = F.normalize(tower.sentence_embedding(short(REFERENCE_SENTENCES)))
    assert dog @ puppy > dog @ stocks + 0.5
    # Mean pooling and the attention mask ignore padding: row length changes nothing.
    torch.testing.assert_close(unpadded, torch.stack([dog, puppy, stocks]), atol=1e-5, rtol=0)
    assert tower(tokenizer(["a dog"])).shape == (1, 64)


def test_freeze_encoder_leaves_only_proj_trainable():
    tower = MiniLMTextTower(16, TINY)
    tower.freeze_encoder()
    assert [n for n, p in tower.named_parameters() if p.requires_grad] == ["proj.weight"]
    tokens = torch.tensor([[1, 5, 7, 2, 0, 0]])
    tower(tokens).sum().backward()
    assert tower.proj.weight.grad is not None
    assert all(p.grad is None for p in tower.encoder.parameters())


def _hf_checkpoint(tower: MiniLMTextTower) -> dict[str, torch.Tensor]:
    """The tower's encoder under HF BertModel names, plus the tensors HF files also carry."""
    names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"]
    names += ["embeddings.token_type_embeddings.weight"]
    names += [f"embeddings.LayerNorm.{p}" for p in ("weight", "bias")]
    parts = [
        "attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
        "output.dense", "output.LayerNorm",
    ]  # fmt: skip
    for n in range(len(tower.encoder.layers)):
        names += [f"encoder.layer.{n}.{part}.{p}" for part in parts for p in ("weight", "bias")]
    state = tower.encoder.state_dict()
    tensors = {name: state[hf_to_local(name)].clone() for name in names}
    tensors["embeddings.position_ids"] = torch.arange(TINY.max_positions)[None]
    tensors["pooler.dense.weight"] = torch.zeros(TINY.width, TINY.width)
    tensors["pooler.dense.bias"] = torch.zeros(TINY.width)
    return tensors


def test_loading_is_strict(tmp_path):
    torch.manual_seed(0)
    source = MiniLMTextTower(16, TINY)
    tensors = _hf_checkpoint(source)
    assert len({hf_to_local(k) for k in tensors} - {None}) == len(source.encoder.state_dict())

    target = MiniLMTextTower(16, TINY)
    save_file(tensors, tmp_path / "model.safetensors")
    target.load_pretrained(tmp_path)
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(target.encoder.state_dict()[key], value), key

    save_file(
        tensors | {"encoder.layer.0.extra.weight": torch.zeros(1)}, tmp_path / "model.safetensors"
    )
    with pytest.raises(ValueError, match="unexpected"):
        target.load_pretrained(tmp_path)
    missing = {k: v for k, v in tensors.items() if k != "encoder.layer.1.output.dense.bias"}
    save_file(missing, tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match="Missing"):
        target.load_pretrained(tmp_path)


def test_exports_to_onnx_with_parity(tmp_path):
    """The same modules as the pretrained tower at a tiny size (the full one exports the same
    way, in ~13 s, parity 1.3e-6)."""
    import onnxruntime as ort

    torch.manual_seed(0)
    tower = MiniLMTextTower(16, TINY).eval()
    example = torch.tensor([[1, 5, 7, 2, 0, 0, 0, 0], [1, 9, 9, 9, 9, 9, 2, 0]])
    path = tmp_path / "minilm.onnx"
    torch.onnx.export(
        tower,
        (example,),
        str(path),
        input_names=["tokens"],
        output_names=["features"],
        dynamic_shapes={"tokens": {0: torch.export.Dim("batch", min=1, max=4096)}},
        opset_version=18,
        dynamo=True,
        external_data=False,
    )
    tokens = torch.randint(1, TINY.vocab_size, (5, 8))
    tokens[:, 5:] = 0  # padded rows, a batch size other than the example's
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"tokens": tokens.numpy()})[0]
    with torch.no_grad():
        want = tower(tokens).numpy()
    assert got.shape == (5, 16) and abs(got - want).max() < 1e-4
