"""The corpus itself: its plan and splits, records, WebDataset shards, manifest, card, reader,
rejections and DVC versioning."""
