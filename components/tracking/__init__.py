"""MLflow runs, lineage and content hashes: the low floor every stage uses to record what it did."""
