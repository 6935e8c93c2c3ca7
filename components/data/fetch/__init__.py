"""Fetching a URL table's images: a bounded HTTP client (http_client.py), run on Ray Data."""
