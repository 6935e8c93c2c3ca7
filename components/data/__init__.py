"""The embedded default corpus: real emoji art and names from pinned npm packages.

`build.build_corpus` turns the packages into WebDataset shards + manifest.parquet + card.json;
`reader.read_split` is what training and evaluation read back.
"""
