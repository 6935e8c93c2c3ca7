"""Where samples come from: the packaged corpora, Debian packages, the user's tables and shards."""
