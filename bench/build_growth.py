"""How the build (and the gate after it) grow with the user's data: N and F x N user samples
in one run, each phase in a child process so that its peak RSS is its own.

    .venv/bin/python bench/build_growth.py [--rows 100000] [--factor 10] [--corpora DIR] [--to-s3]

The user's data are img2dataset-style shards (1,000 samples each: a 16 px noise JPEG and its
caption), written by bench/gate_growth.py's writer (kept and reused with --corpora). The build
reads them as a user source (the emoji part capped at 6 concepts), checks every image, stores
them as given and writes the corpus; the gate then checks the built corpus with its shards
decoded on Ray Data. Printed per size: seconds, rows/s, peak RSS of the build and of the gate;
then the F x N / N ratios. Issue 15's goal: peak RSS within 20% from 100k to 1M, under 4 GiB.
With --to-s3 the shards go to a SeaweedFS started on 127.0.0.1 for the run (data.output), and
the gate reads them from there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gate_growth import _measure as measure_gate  # noqa: E402
from gate_growth import in_child, write_corpus  # noqa: E402


def _build(shards: str, out: str, output: str | None, queue) -> None:
    import os

    from components.data.build import build_corpus
    from components.settings import DataConfig, Services, load_settings

    settings = load_settings("default")
    cfg = DataConfig(**{**settings.data.model_dump(), "max_concepts": 6, "user_sources": [shards],
                        "output": output})  # fmt: skip
    s3 = Services.from_environment(os.environ).s3
    started = time.perf_counter()
    card = build_corpus(cfg, settings.paths.sources, Path(out), s3=s3)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak, card["counts"]["by_source"].get("user", 0)))


def _measure_build(shards: Path, out: Path, output: str | None) -> tuple[float, float, int]:
    return in_child(_build, str(shards), str(out), output)


@contextmanager
def _s3_output(wanted: bool) -> Iterator[str | None]:
    """A SeaweedFS on 127.0.0.1 for the run, its keys in the environment the children inherit;
    yields the data.output prefix (None: shards in the corpus folder)."""
    if not wanted:
        yield None
        return
    from infra.local.seaweedfs import SeaweedS3

    with tempfile.TemporaryDirectory() as folder:
        server = SeaweedS3(Path(folder), "bench-key", "bench-secret-0123456789").start()
        os.environ.update(AWS_ACCESS_KEY_ID=server.access_key,
                          AWS_SECRET_ACCESS_KEY=server.secret_key,
                          AWS_ENDPOINT_URL_S3=server.endpoint)  # fmt: skip
        try:
            yield f"s3://{server.bucket}/corpus"
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--corpora", type=Path, help="keep (and reuse) the user shards here")
    parser.add_argument("--build-only", action="store_true", help="skip the gate")
    parser.add_argument("--to-s3", action="store_true", help="data.output on a local SeaweedFS")
    args = parser.parse_args()
    with _s3_output(args.to_s3) as output:
        _run(args, output)


def _run(args: argparse.Namespace, output: str | None) -> None:
    results = {}
    for rows in (args.rows, args.factor * args.rows):
        with tempfile.TemporaryDirectory() as tmp:  # never inside the checkout
            source = (args.corpora / f"rows-{rows}") if args.corpora else Path(tmp) / "source"
            if not (source / "card.json").is_file():  # written last: a whole source
                write_corpus(source, rows)
            built = Path(tmp) / "data"
            build_s, build_mib, admitted = _measure_build(source / "shards", built, output)
            assert admitted == rows, f"{admitted} of {rows} user samples admitted"
            gate_s, gate_mib, worker_mib = (
                (float("nan"),) * 3
                if args.build_only
                else measure_gate(built, Path(tmp) / "report", "ray")
            )
        results[rows] = {"rows": rows, "build_s": round(build_s, 1),
                         "build_rows_per_s": round(rows / build_s, 1),
                         "build_peak_rss_mib": round(build_mib, 1), "gate_s": round(gate_s, 1),
                         "gate_rows_per_s": round(rows / gate_s, 1),
                         "gate_peak_rss_mib": round(gate_mib, 1),
                         "ray_worker_peak_mib": round(worker_mib, 1)}  # fmt: skip
        print(json.dumps(results[rows]), flush=True)
    small, large = results[args.rows], results[args.factor * args.rows]
    print(json.dumps({
        "build_peak_rss_ratio": round(large["build_peak_rss_mib"] / small["build_peak_rss_mib"], 3),
        "gate_peak_rss_ratio": round(large["gate_peak_rss_mib"] / small["gate_peak_rss_mib"], 3),
        "build_rows_per_s_ratio": round(large["build_rows_per_s"] / small["build_rows_per_s"], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
