from components.model.tokenizer import PAD, UNK, WordTokenizer, clean_text
from components.model.tokenizers import load_tokenizer, save_tokenizer


def test_cleaning_follows_clip():
    assert clean_text("  Hot&amp;amp;Pepper\n\tFACE ") == "hot&pepper face"


def test_training_is_deterministic_and_frequency_ranked():
    captions = ["red heart", "blue heart", "heart", "red apple"]
    a = WordTokenizer.train(captions, 64, 8)
    b = WordTokenizer.train(list(reversed(captions)), 64, 8)
    assert a.words == b.words
    assert a.words[:2] == ["heart", "red"]  # most frequent first, ties alphabetical


def test_encoding_pads_marks_unknown_and_keeps_the_end_token_last():
    tok = WordTokenizer.train(["red heart"], 64, 6)
    assert tok.encode("red heart") == [
        tok.sot,
        tok._ids["red"],
        tok._ids["heart"],
        tok.eot,
        PAD,
        PAD,
    ]
    assert tok.encode("green heart")[1] == UNK
    long = tok.encode("red " * 20)
    assert len(long) == 6 and long[-1] == tok.eot
    assert tok.eot == 63 and tok.sot == 62  # the end token has the highest id (argmax finds it)


def test_round_trip_through_json(tmp_path):
    tok = WordTokenizer.train(["a photo of a dog", "a cat"], 64, 10)
    save_tokenizer(tok, tmp_path / "t.json")
    again = load_tokenizer(tmp_path / "t.json")
    assert again.encode("a dog and a cat") == tok.encode("a dog and a cat")
    assert again(["a dog", "a cat"]).shape == (2, 10)
