"""What makes one image-text sample acceptable: reason codes, limits, image and caption checks.

Below both the data build (which checks every user sample at the source, before any byte is
stored) and the validation gate (which checks the stored corpus). No I/O, nothing heavy.
"""
