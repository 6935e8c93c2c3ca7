"""Data validation: a great-expectations suite on the manifest, decode checks on every sample, a
quarantine report, and the gate that stops the pipeline when too much is bad (see gate.py).

Nothing heavy is imported here: import the sub-modules you need.
"""
