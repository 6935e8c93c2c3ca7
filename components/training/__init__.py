"""The contrastive losses, the per-worker loop, Ray Train wiring and checkpoints."""
