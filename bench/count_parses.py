"""`clip-pipeline ARGS`, counting how often params.yaml is resolved (load_settings calls).

python bench/count_parses.py --profile tiny run   -> ... [count] params.yaml resolved 1 time(s)
"""

import atexit
import sys

import components.settings as settings_package
import components.settings.resolve as resolve

original, calls = resolve.load_settings, []


def counted(*args, **kwargs):
    calls.append(1)
    return original(*args, **kwargs)


def report() -> None:
    print(f"[count] params.yaml resolved {len(calls)} time(s)", file=sys.stderr)


resolve.load_settings = settings_package.load_settings = counted
atexit.register(report)
sys.argv = ["clip-pipeline", *sys.argv[1:]]
from clip_pipeline.cli import main  # noqa: E402

main()
