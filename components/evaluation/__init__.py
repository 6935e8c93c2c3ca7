"""Zero-shot classification, retrieval, linear probe: metrics.json and plots."""
