"""`clip-pipeline`: every stage runnable alone (dvc.yaml calls these), and `run` for the whole flow.

Heavy libraries are imported inside the commands so `--help` answers at once.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from components.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
data_app = typer.Typer(no_args_is_help=True, help="Build and version the corpus.")
app.add_typer(data_app, name="data")
stack_app = typer.Typer(
    no_args_is_help=True,
    help="The local stack of real servers on 127.0.0.1: SeaweedFS (S3), MLflow, Prefect, Ray.",
)
app.add_typer(stack_app, name="stack")

_state: dict[str, Any] = {}


@app.callback()
def global_options(
    profile: str = typer.Option(
        None, "--profile", "-p", help="params.yaml profile (tiny, default, ...)"
    ),
    workdir: Path = typer.Option(
        None, "--workdir", help="where data/, artifacts/ and mlruns/ live"
    ),
    set_: list[str] = typer.Option(
        [], "--set", "-s", help="override a parameter, e.g. --set train.epochs=3 (repeatable)"
    ),
) -> None:
    _state.update(profile=profile, workdir=workdir, overrides=set_)


def _overrides() -> dict[str, Any]:
    """--set, parsed (and kept for the commands that pass them on)."""
    from components.settings import parse_overrides

    overrides = parse_overrides(_state.get("overrides") or [])
    _state["parsed_overrides"] = overrides
    return overrides


def _load_settings():
    """params.yaml, the profile, --set and the environment, read once (without the stack: the
    `stack` commands manage it)."""
    from components.settings import apply_quiet_env, load_settings

    settings = load_settings(
        _state.get("profile"), workdir=_state.get("workdir"), overrides=_overrides()
    )
    os.environ.setdefault("PREFECT_HOME", str(settings.paths.workdir / ".prefect"))
    apply_quiet_env()
    return settings


def _settings():
    """The settings every stage runs with, read once: the local stack's servers when it is up,
    checked across sections, exported for the child processes."""
    from infra.local.client_env import settings_for_run

    workdir = _state.get("workdir")
    settings = settings_for_run(
        _state.get("profile"), str(workdir) if workdir else None, _overrides()
    )
    os.environ.setdefault("PREFECT_HOME", str(settings.paths.workdir / ".prefect"))
    services = settings.services
    if services.local_stack is not None:
        typer.secho(
            f"using the local stack ({services.local_stack}): MLflow "
            f"{services.mlflow_tracking_uri}, Prefect {services.prefect_api_url}, Ray "
            f"{services.ray_address}, S3 {services.s3.endpoint}",
            fg=typer.colors.CYAN,
            err=True,
        )
    return settings


def friendly(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (UserError, FileNotFoundError) as err:  # a user's mistake: the message only
            text = str(err)
            if isinstance(err, FileNotFoundError) and not isinstance(err, UserError):
                text = f"{err.strerror or 'not found'}: {err.filename}"  # not "[Errno 2] ..."
            typer.secho(f"error: {' '.join(text.split())}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@data_app.command("build")
@friendly
def data_build(
    version: bool = typer.Option(True, help="`dvc add data` afterwards (updates data.dvc)"),
) -> None:
    """Build the corpus (WebDataset shards + manifest + card) from the installed sources."""
    from components.stages import BUILD

    settings = _settings()
    card = BUILD.run(settings)
    typer.echo(f"corpus: {settings.paths.data}")
    _echo_json(card["counts"])
    if version:
        from components.data.corpus.versioning import dvc_add_data

        dvc_add_data(settings)


@data_app.command("pull")
@friendly
def data_pull() -> None:
    """Fetch the corpus of data.dvc from the DVC remote (CLIP_DVC_REMOTE, else DVC's default)."""
    from components.data.corpus.versioning import pull_data

    settings = _settings()
    pull_data(settings)
    typer.echo(f"corpus: {settings.paths.data}")


def _stack():  # -> LocalStack, without applying it: these commands manage it
    from infra.local.stack import LocalStack

    return LocalStack.of(_load_settings())


@stack_app.command("up")
@friendly
def stack_up() -> None:
    """Start the servers that are not running, wait until each is healthy, write stack.env."""
    stack = _stack()
    stack.up(progress=typer.echo)
    typer.echo(f"logs: {stack.root / 'logs'}")
    typer.echo(
        "the pipeline now uses these servers (`clip-pipeline stack env` prints the variables "
        "for other clients)"
    )


@stack_app.command("down")
@friendly
def stack_down() -> None:
    """Stop the servers this stack started (by their PIDs); their data stays for the next up."""
    _stack().down(progress=typer.echo)


@stack_app.command("status")
@friendly
def stack_status() -> None:
    """Each server: running, healthy, PID, URL, log. Exit 1 when one is not healthy."""
    stack = _stack()
    rows = stack.status()
    if not rows:
        typer.echo(f"no stack is up in {stack.root}")
        raise typer.Exit(code=1)
    for row in rows:
        state = "healthy" if row.healthy else ("UNHEALTHY" if row.running else "DOWN")
        typer.echo(f"{row.name:9s} {state:9s} pid {row.pid:<7d} {row.url:28s} {row.log}")
    if not all(row.healthy for row in rows):
        raise typer.Exit(code=1)


@stack_app.command("env")
@friendly
def stack_env() -> None:
    """Print `export` lines for the stack's servers: eval "$(clip-pipeline stack env)"."""
    stack = _stack()
    if not stack.state().get("services"):
        typer.secho(f"error: no stack is up in {stack.root}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2)
    for key, value in stack.client_env().items():
        typer.echo(f"export {key}={value}")


@app.command()
@friendly
def validate() -> None:
    """Run the validation gate; rejected samples go to artifacts/validation/quarantine.csv."""
    from components.stages import VALIDATE

    report = VALIDATE.run(_settings())
    typer.echo(report.summary)


@app.command()
@friendly
def train(
    run_name: str = typer.Option(
        None,
        "--run-name",
        help="name the run; if its storage folder already holds it, continue from its last "
        "checkpoint in the same MLflow run",
    ),
) -> None:
    """Train CLIP with Ray Train (workers from params.yaml); logs to MLflow."""
    from components.stages import TRAIN

    out = TRAIN.run(_settings(), run_name=run_name)
    typer.echo(
        f"model: {out.model_dir}  run: {out.run_id}  steps: {out.steps}  loss: {out.final_loss:.4f}"
    )


@app.command()
@friendly
def evaluate() -> None:
    """Zero-shot classification on the held-out style and retrieval -> artifacts/metrics.json."""
    from components.stages import EVALUATE

    _echo_json(EVALUATE.run(_settings()))


@app.command()
@friendly
def export() -> None:
    """Export both towers to ONNX and check parity with onnxruntime."""
    from components.stages import EXPORT

    out = EXPORT.run(_settings())
    worst = max(out.image_max_abs_diff, out.text_max_abs_diff)
    typer.echo(f"onnx: {out.image_onnx} {out.text_onnx} (max abs diff {worst:.2e})")


@app.command()
@friendly
def register(
    promote_: bool = typer.Option(
        True, "--promote/--no-promote", help="then run the promotion rule"
    ),
) -> None:
    """Register the exported model in MLflow (lineage tags) and, by default, try to promote it."""
    from components.registry.register import write_registration
    from components.stages import REGISTER, registry_inputs

    settings = _settings()
    registration = REGISTER.run(settings)
    decision = None
    if promote_:
        from components.registry.promote import promote as promote_stage

        decision = promote_stage(registry_inputs(settings), registration.version)
    path = write_registration(settings.paths.workdir, registration, decision)
    result = json.loads(path.read_text())
    _echo_json(result)


@app.command()
@friendly
def promote(version: str = typer.Argument(..., help="the model version to consider")) -> None:
    """Move the champion alias to VERSION only if it beats the champion on the gate metric."""
    from components.registry.promote import promote as promote_stage
    from components.stages import registry_inputs

    _echo_json(promote_stage(registry_inputs(_settings()), version).__dict__)


@app.command()
@friendly
def reproduce(
    name: str = typer.Argument(..., help="registered model name, e.g. clip-zeroshot"),
    version: str = typer.Argument(..., help="the version to rebuild"),
    tolerance: float = typer.Option(0.02, help="largest |difference| allowed per metric"),
    into: Path = typer.Option(None, help="check the commit out here (default: a temp folder)"),
    keep: bool = typer.Option(False, help="keep the checkout afterwards"),
) -> None:
    """Rebuild VERSION from its recorded commit and data version with `dvc repro`; compare."""
    from components.registry.reproduce import reproduce as reproduce_version

    result = reproduce_version(_settings(), name, version, tolerance, into, keep, os.environ)
    for metric, (old, new, diff) in result.metrics.items():
        flag = "ok" if diff <= tolerance else "DIFFERS"
        typer.echo(f"{metric:48s} {old:10.4f} {new:10.4f}  |diff| {diff:.2e}  {flag}")
    _echo_json({**result.__dict__, "passed": result.passed})
    if not result.passed:
        raise typer.Exit(code=1)


@app.command()
@friendly
def run(
    run_name: str = typer.Option(
        None, "--run-name", help="the training run's name (an existing one is continued)"
    ),
    force: bool = typer.Option(
        False, "--force", help="train even when the champion was made from this data and code"
    ),
) -> None:
    """The whole pipeline as the Prefect flow `retrain` (it ends early, registering nothing,
    when the champion was made from the same data version, code and parameters)."""
    settings = _settings()
    from flows.retrain import retrain

    summary = retrain(
        settings.profile,
        str(settings.paths.workdir),
        overrides=_state["parsed_overrides"] or None,
        train_run_name=run_name,
        settings=settings,
        force=force,
    )
    from clip_pipeline.report import print_run_summary

    print_run_summary(summary)


@app.command("serve-model")
@friendly
def serve_model(
    port: int = typer.Option(5001, envvar="CLIP_SERVE_PORT", help="the port to answer on"),
    host: str = typer.Option("127.0.0.1", help="the address to bind (0.0.0.0: every interface)"),
    alias: str = typer.Option(None, help="the alias to serve (default: registry.champion_alias)"),
) -> None:
    """Serve the champion (models:/NAME@champion) over HTTP with MLflow's scoring server, until
    Ctrl-C: POST /invocations with base64 images and candidate labels."""
    from components.registry.serving import serve_command

    argv, env = serve_command(_settings(), host, port, alias, os.environ)
    os.execve(argv[0], argv, env)  # the server takes this process's place (and its signals)


@app.command()
@friendly
def serve(
    cron: str = typer.Option(None, help="another cron schedule than prefect.yaml's"),
    watch_every: float = typer.Option(
        None, min=1, help="seconds between watch-data's looks (default: prefect.yaml's)"
    ),
) -> None:
    """Serve prefect.yaml's two deployments from this process: `weekly` retraining (its cron,
    its trigger on clip.data.changed, parameters and limit) and `watch-data` (its interval),
    which emits that event when a source changed. Scheduled and triggered runs execute here
    until Ctrl-C. The global --profile/--workdir/--set become the runs' parameters."""
    settings = _settings()
    from flows.schedule import serve as serve_schedule

    parameters: dict[str, Any] = {"profile": settings.profile}
    if _state.get("workdir"):
        parameters["workdir"] = str(settings.paths.workdir)
    if _state["parsed_overrides"]:
        parameters["overrides"] = _state["parsed_overrides"]
    serve_schedule(settings, parameters, cron=cron, watch_every_s=watch_every)


def main() -> None:
    """The `clip-pipeline` entry point. A usage mistake (a missing argument, an unknown command
    or option) is one line on stderr and exit 2, like every other user mistake; click would
    draw a box of several lines around it."""
    # typer 0.29 (the lock's) carries its own copy of click, whose errors these are
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    command = typer.main.get_command(app)
    try:
        code = command.main(sys.argv[1:], prog_name="clip-pipeline", standalone_mode=False)
    except NoArgsIsHelpError as err:  # a bare `clip-pipeline` (or group): its help
        typer.echo(err.ctx.get_help())
        sys.exit(0)
    except UsageError as err:
        where = err.ctx.command_path if err.ctx is not None else "clip-pipeline"
        message = " ".join(err.format_message().split())
        typer.secho(f"error: {message} (see `{where} --help`)", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
