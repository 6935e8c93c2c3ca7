"""A locked text tower's features, computed once per distinct caption and reused.

With `train.lock_text_tower` the text tower's weights never change (and it has no dropout), so
the features of a token row are the same at every step: re-running a MiniLM on each batch's
captions is most of a LiT step's work when captions repeat (an emoji corpus has a few per
concept). The cache maps a token row's bytes to its features, least recently used first out
after `max_entries` rows (its memory: entries x embed_dim floats, not the corpus). Rows not in
the cache are encoded together in one batch, under the caller's autocast, with no gradients.
"""

from __future__ import annotations

from collections import OrderedDict

import torch


class LockedTextCache:
    def __init__(self, model: torch.nn.Module, max_entries: int) -> None:
        self.model, self.max_entries = model, max_entries
        self._features: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.encoded = self.reused = 0  # rows run through the tower, rows answered from here

    @torch.no_grad()
    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, L] -> the tower's (unnormalised) features [B, E]."""
        keys = [row.tobytes() for row in tokens.cpu().numpy()]
        missing = list(dict.fromkeys(k for k in keys if k not in self._features))
        if missing:
            rows = torch.stack([tokens[keys.index(k)] for k in missing])  # [M, L]
            for key, feature in zip(missing, self.model.encode_text(rows), strict=True):
                self._features[key] = feature.detach()
        self.encoded += len(missing)
        self.reused += len(keys) - len(missing)
        found = torch.stack([self._features[k] for k in keys])  # [B, E]
        for key in keys:  # most recently used last
            self._features.move_to_end(key)
        while len(self._features) > self.max_entries:
            self._features.popitem(last=False)
        return found
