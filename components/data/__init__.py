"""The embedded default corpus: real emoji art and names from pinned npm packages, plus the
optional extra training styles and user data that data.extra_train_packages/user_sources add.

`build.build_corpus` turns the packages into WebDataset shards + manifest.parquet + card.json;
`reader.read_split` is what training and evaluation read back.
"""
