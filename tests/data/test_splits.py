from __future__ import annotations

from collections import Counter

from components.data.corpus.records import normalize_code
from components.data.corpus.splits import choose_val, content_split, select_concepts

# 3 categories of very different sizes, like emoji's (People 386 ... Component 5)
CATEGORIES = {f"A{i:03d}": "big" for i in range(300)} | {f"B{i:03d}": "mid" for i in range(60)}
CATEGORIES |= {f"C{i:03d}": "small" for i in range(5)}


def test_normalize_code_drops_variation_selectors() -> None:
    assert normalize_code("1f336-fe0f") == normalize_code("1F336") == "1F336"
    assert normalize_code("1F441-FE0F-200D-1F5E8-FE0F") == "1F441-200D-1F5E8"


def test_selection_is_seeded_sorted_and_spread() -> None:
    chosen = select_concepts(CATEGORIES, 20, seed=0)
    assert chosen == select_concepts(CATEGORIES, 20, seed=0) == sorted(chosen)
    assert chosen != select_concepts(CATEGORIES, 20, seed=1)
    shares = Counter(CATEGORIES[code] for code in chosen)
    assert shares["small"] >= 1 and shares["mid"] >= 2 and shares["big"] > shares["mid"]
    assert select_concepts(CATEGORIES, 0, seed=0) == sorted(CATEGORIES)


def test_val_is_a_seeded_fraction_that_leaves_training_data() -> None:
    val = choose_val(CATEGORIES, 0.1, seed=0)
    assert 20 < len(val) < 55 and val == choose_val(sorted(CATEGORIES), 0.1, 0)  # ~36.5
    assert val != choose_val(CATEGORIES, 0.1, seed=1)
    assert choose_val(CATEGORIES, 0.0, seed=0) == set()
    assert len(choose_val(["x", "y"], 0.01, seed=0)) == 1  # at least one
    assert len(choose_val(["x", "y"], 0.99, seed=0)) == 1  # never all


def test_a_concept_keeps_its_split_whatever_else_is_selected() -> None:
    """A package version that adds concepts, or another max_concepts, moves none."""
    before = choose_val(CATEGORIES, 0.1, seed=0)
    grown = [*CATEGORIES, *(f"D{i:03d}" for i in range(500))]
    after = choose_val(grown, 0.1, seed=0)
    assert after & set(CATEGORIES) == before
    subset = sorted(CATEGORIES)[::3]
    assert choose_val(subset, 0.1, seed=0) == before & set(subset)


def test_user_samples_split_by_a_seeded_hash_of_their_image() -> None:
    hashes = [f"{i:064x}" for i in range(2000)]
    splits = [content_split(h, 0.1, seed=0) for h in hashes]
    assert splits == [content_split(h, 0.1, seed=0) for h in hashes]  # deterministic
    assert 150 < splits.count("val") < 250 and set(splits) == {"train", "val"}
    assert splits != [content_split(h, 0.1, seed=1) for h in hashes]
    assert {content_split(h, 0.0, seed=0) for h in hashes} == {"train"}
