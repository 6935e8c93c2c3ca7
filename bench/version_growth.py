"""How versioning grows with the corpus: `dvc add --to-remote` (data.dvc_local_cache: false) of
an N-row and an F x N-row corpus into a real S3 server (SeaweedFS on 127.0.0.1), in one run.

    .venv/bin/python bench/version_growth.py [--rows 100000] [--factor 10] [--corpora DIR]

The corpora are bench/gate_growth.py's (written there, or reused from --corpora), hard-linked
into a scratch DVC repo as its `data/`. Printed per size: seconds, rows/s, DVC's peak RSS (its
child processes' ru_maxrss), bytes left in .dvc/cache and objects in the remote; then ratios.
Issue 15's goal: nothing corpus-sized in .dvc/cache, memory not linear in N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_growth import write_corpus  # noqa: E402


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _version(corpus: Path, repo: Path, server, prefix: str) -> dict[str, float]:
    from components.data.corpus.versioning import configure_s3_remote, run_dvc

    repo.mkdir()
    subprocess.run(["cp", "-al", str(corpus), str(repo / "data")], check=True)
    run_dvc(repo, "init", "--quiet", "--no-scm")
    configure_s3_remote(repo, f"s3://{server.bucket}/{prefix}", server.endpoint,
                        server.access_key, server.secret_key, local=True)  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    run_dvc(repo, "add", "--quiet", "--to-remote", "data")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    objects = 0
    for page in (
        server.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=server.bucket, Prefix=prefix)
    ):
        objects += len(page.get("Contents", []))
    return {"seconds": seconds, "dvc_peak_rss_mib": max(peak, before) / 1024,
            "dvc_cache_bytes": _tree_bytes(repo / ".dvc" / "cache"),
            "corpus_bytes": _tree_bytes(corpus), "remote_objects": objects}  # fmt: skip


def main() -> None:
    from infra.local.seaweedfs import SeaweedS3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--corpora", type=Path, help="keep (and reuse) the corpora here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = SeaweedS3(Path(tmp) / "s3", "bench", secrets.token_hex(16)).start()
        os.environ.update(AWS_ACCESS_KEY_ID=server.access_key,
                          AWS_SECRET_ACCESS_KEY=server.secret_key)  # fmt: skip
        try:
            for rows in (args.rows, args.factor * args.rows):
                corpus = (args.corpora or Path(tmp)) / f"rows-{rows}"
                if not (corpus / "card.json").is_file():
                    write_corpus(corpus, rows)
                found = _version(corpus, Path(tmp) / f"repo-{rows}", server, f"dvc-{rows}")
                results[rows] = {"rows": rows, **{k: round(v, 1) for k, v in found.items()},
                                 "rows_per_s": round(rows / found["seconds"], 1)}  # fmt: skip
                print(json.dumps(results[rows]), flush=True)
        finally:
            server.stop()
    small, large = results[args.rows], results[args.factor * args.rows]
    print(json.dumps({
        "dvc_peak_rss_ratio": round(large["dvc_peak_rss_mib"] / small["dvc_peak_rss_mib"], 3),
        "rows_per_s_ratio": round(large["rows_per_s"] / small["rows_per_s"], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
