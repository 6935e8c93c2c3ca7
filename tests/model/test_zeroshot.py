import pytest
import torch

from components.model.zeroshot import classification_metrics, retrieval_recall


def test_classification_metrics_on_known_logits():
    logits = torch.tensor(
        [[3.0, 2, 1, 0, -1, -2], [0, 3, 2, 1, -1, -2], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]]
    )
    targets = torch.tensor([0, 1, 0, 5])
    m = classification_metrics(logits, targets)
    assert m["top1"] == pytest.approx(0.5)  # rows 0 and 1
    assert m["top5"] == pytest.approx(0.5)  # row 2's class 0 ranks 6th, row 3's class 5 ranks 6th
    assert m["mean_per_class_recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert m["chance_top1"] == pytest.approx(1 / 6)


def test_retrieval_recall_both_directions():
    features = torch.eye(4)
    shuffled = features[[0, 1, 3, 2]]  # texts 2 and 3 swapped
    m = retrieval_recall(features, shuffled, ks=(1, 4))
    assert m["image_to_text_r1"] == pytest.approx(0.5)
    assert m["text_to_image_r1"] == pytest.approx(0.5)
    assert m["image_to_text_r4"] == m["text_to_image_r4"] == pytest.approx(1.0)
