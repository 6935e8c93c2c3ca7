"""CLIP towers, tokenizers and model configs (JSON data)."""
