"""The great-expectations suite on manifest.parquet, and its Data Docs.

Two kinds of expectation: structural ones (schema, row count, known splits and sources) say the
corpus as a whole is wrong and stop the gate; row-level ones (nulls, duplicates, caption length,
image size) name rows, which become quarantine entries. GX runs in an ephemeral context: nothing
is written except the Data Docs site, which is pointed at a folder of our choosing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.checks.reasons import Problem, Reason

if TYPE_CHECKING:
    import pandas as pd

    from components.settings import ValidateConfig

# The manifest contract (components/data writes it). Extra columns are allowed: a new column
# must not break validation of an otherwise valid corpus.
MANIFEST_COLUMNS = (
    "id", "split", "source", "license", "code", "concept", "caption", "captions", "shard", "key",
    "image_sha256", "width", "height", "n_bytes", "caption_chars",
)  # fmt: skip
KEY_COLUMNS = (
    "id", "split", "source", "license", "shard", "key", "image_sha256", "caption", "width",
    "height",
)  # fmt: skip
SAMPLE_SIZE = 5  # unexpected values kept per expectation in the report
DOCS_SITE = "pipeline"

RowFlagger = Callable[["pd.DataFrame", list[int]], dict[int, Problem]]


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, small enough for validation.json."""

    name: str  # the GX expectation type, e.g. expect_column_values_to_be_unique
    column: str | None
    structural: bool  # a failure stops the gate instead of quarantining rows
    success: bool
    unexpected_count: int = 0
    unexpected_sample: tuple[str, ...] = ()
    observed: str | None = None  # table-level observations: row count, missing columns
    error: str | None = None  # GX could not evaluate it (e.g. the column is missing)
    reasons: tuple[str, ...] = ()  # the quarantine reasons its failing rows get


@dataclass(frozen=True)
class SuiteResult:
    outcomes: tuple[ExpectationOutcome, ...]
    row_problems: dict[int, Problem]  # manifest row position -> first row-level problem
    data_docs_index: Path | None = None

    @property
    def structural_failures(self) -> tuple[ExpectationOutcome, ...]:
        """Failures that make the whole corpus unusable (an evaluation error counts: the
        expectation could not vouch for any row)."""
        return tuple(o for o in self.outcomes if not o.success and (o.structural or o.error))

    @property
    def schema_ok(self) -> bool:
        return all(
            o.success for o in self.outcomes if o.name == "expect_table_columns_to_match_set"
        )

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)


@dataclass
class _Spec:
    expectation: Any  # a great_expectations Expectation, built lazily (GX imports in 4-6 s)
    structural: bool
    reasons: tuple[Reason, ...] = ()  # what its failing rows are quarantined as
    flag: RowFlagger | None = field(default=None, repr=False)


# Each builder pairs an expectation with the function that turns GX's unexpected row indices
# into quarantine problems.


def _in_set(gxe: Any, column: str, known: tuple[str, ...], reason: Reason, knob: str) -> _Spec:
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        allowed = f"{', '.join(known)} (validate.{knob})"
        values = df[column]
        return {
            i: Problem(reason, f"{column} {values.iat[i]!r} is not one of {allowed}") for i in rows
        }

    expectation = gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(known))
    return _Spec(expectation, True, (reason,), flag)


def _not_null(gxe: Any, column: str) -> _Spec:
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        detail = f"manifest column {column!r} is empty"
        return {i: Problem(Reason.MISSING_FIELD, detail) for i in rows}

    expectation = gxe.ExpectColumnValuesToNotBeNull(column=column)
    return _Spec(expectation, False, (Reason.MISSING_FIELD,), flag)


def _unique(gxe: Any, column: str, reason: Reason) -> _Spec:
    # GX marks every copy; the first occurrence is kept, the later ones are quarantined
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        first: dict[Any, Any] = {}
        flagged: dict[int, Problem] = {}
        for i in sorted(rows):
            value = df[column].iat[i]
            if value in first:
                detail = f"{column} {value!r} was already used by id {first[value]!r}"
                flagged[i] = Problem(reason, detail)
            else:
                first[value] = df["id"].iat[i]
        return flagged

    return _Spec(gxe.ExpectColumnValuesToBeUnique(column=column), False, (reason,), flag)


def _bounded(
    expectation_type: Any,
    column: str,
    bounds: tuple[int, int],
    reasons: tuple[Reason, Reason],
    knob: str,
    measure: Callable[[Any], int],
    empty: Reason | None = None,  # the reason for size 0, when it has a name of its own
) -> _Spec:
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        flagged: dict[int, Problem] = {}
        for i in rows:
            size = measure(df[column].iat[i])
            if size == 0 and empty is not None:
                flagged[i] = Problem(empty, f"manifest {column} is empty")
                continue
            low = size < bounds[0]
            reason, limit = (reasons[0], f"min_{knob}") if low else (reasons[1], f"max_{knob}")
            bound = bounds[0] if low else bounds[1]
            flagged[i] = Problem(reason, f"manifest {column} is {size}, validate.{limit}={bound}")
        return flagged

    expectation = expectation_type(column=column, min_value=bounds[0], max_value=bounds[1])
    return _Spec(expectation, False, reasons, flag)


def _specs(cfg: ValidateConfig) -> list[_Spec]:
    """The suite, in precedence order: a row's first failing expectation names its reason."""
    import great_expectations.expectations as gxe

    captions = (cfg.min_caption_chars, cfg.max_caption_chars)
    sides = (cfg.min_image_side, cfg.max_image_side)
    caption_reasons = (Reason.CAPTION_TOO_SHORT, Reason.CAPTION_TOO_LONG)
    side_reasons = (Reason.IMAGE_TOO_SMALL, Reason.IMAGE_TOO_LARGE)
    columns = gxe.ExpectTableColumnsToMatchSet(column_set=list(MANIFEST_COLUMNS), exact_match=False)
    rows = gxe.ExpectTableRowCountToBeBetween(min_value=cfg.min_rows, max_value=cfg.max_rows)
    between = gxe.ExpectColumnValuesToBeBetween
    return [
        _Spec(columns, structural=True),
        _Spec(rows, structural=True),
        _in_set(gxe, "split", cfg.known_splits, Reason.UNKNOWN_SPLIT, "known_splits"),
        _in_set(gxe, "source", cfg.known_sources, Reason.UNKNOWN_SOURCE, "known_sources"),
        *(_not_null(gxe, column) for column in KEY_COLUMNS),
        _unique(gxe, "id", Reason.DUPLICATE_ID),
        _unique(gxe, "image_sha256", Reason.DUPLICATE_IMAGE),
        _bounded(gxe.ExpectColumnValueLengthsToBeBetween, "caption", captions, caption_reasons,
                 "caption_chars", len, empty=Reason.EMPTY_CAPTION),
        _bounded(between, "width", sides, side_reasons, "image_side", int),
        _bounded(between, "height", sides, side_reasons, "image_side", int),
    ]  # fmt: skip


def _raised(exception_info: Any) -> str | None:
    """GX reports evaluation errors either flat or keyed by metric; find the first message."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] + [v for v in exception_info.values() if isinstance(v, dict)]
    for info in infos:
        if info.get("raised_exception"):
            message = str(info.get("exception_message") or "GX could not evaluate this")
            return message.splitlines()[0][:300]
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _observed(result: dict[str, Any]) -> str | None:
    mismatched = (result.get("details") or {}).get("mismatched")
    if mismatched:
        missing = mismatched.get("missing") or []
        return f"missing columns: {', '.join(map(str, missing))}" if missing else None
    if "observed_value" in result:
        return _short(result["observed_value"])
    return None


def _outcome(spec: _Spec, gx_result: Any) -> ExpectationOutcome:
    result = gx_result.result or {}
    config = gx_result.expectation_config
    return ExpectationOutcome(
        name=config.type,
        column=config.kwargs.get("column"),
        structural=spec.structural,
        success=bool(gx_result.success),
        unexpected_count=int(result.get("unexpected_count") or 0),
        unexpected_sample=tuple(
            _short(v) for v in (result.get("unexpected_list") or [])[:SAMPLE_SIZE]
        ),
        observed=_observed(result),
        error=_raised(gx_result.exception_info),
        reasons=tuple(r.value for r in spec.reasons),
    )


def _docs_site(folder: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(folder)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }  # fmt: skip


def run_manifest_suite(
    manifest: pd.DataFrame, cfg: ValidateConfig, docs_dir: Path | None = None
) -> SuiteResult:
    """Validate the manifest (row positions 0..n-1 are what `row_problems` refers to) and, when
    `docs_dir` is given, build the GX Data Docs site there (index.html at its top)."""
    from components.settings import apply_quiet_env

    apply_quiet_env()  # GX_ANALYTICS_ENABLED=false, before GX reads its settings

    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    manifest = manifest.reset_index(drop=True)  # GX reports index labels: make them positions
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    # The ephemeral context ships a default site in a fresh system temp dir: drop it, so only
    # our folder is written (and nothing is left behind in /tmp).
    for site in list(context.list_data_docs_sites()):
        context.delete_data_docs_site(site)
    actions = []
    if docs_dir is not None:
        context.add_data_docs_site(DOCS_SITE, _docs_site(Path(docs_dir).resolve()))
        actions.append(UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE]))

    batch = (
        context.data_sources.add_pandas("corpus")
        .add_dataframe_asset("manifest")
        .add_batch_definition_whole_dataframe("manifest")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="manifest"))
    specs = {suite.add_expectation(s.expectation).id: s for s in _specs(cfg)}
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="manifest", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="manifest",
            validation_definitions=[definition],
            actions=actions,
            result_format={"result_format": "COMPLETE"},  # every unexpected row's index
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": manifest})

    by_id = {r.expectation_config.id: r for v in run.run_results.values() for r in v.results}
    outcomes: list[ExpectationOutcome] = []
    row_problems: dict[int, Problem] = {}
    for expectation_id, spec in specs.items():  # suite order: the first problem wins
        gx_result = by_id[expectation_id]
        outcomes.append(_outcome(spec, gx_result))
        rows = (gx_result.result or {}).get("unexpected_index_list") or []
        if spec.flag is not None and rows and not gx_result.success:
            for pos, problem in spec.flag(manifest, [int(i) for i in rows]).items():
                row_problems.setdefault(pos, problem)
    index = Path(docs_dir).resolve() / "index.html" if docs_dir is not None else None
    return SuiteResult(tuple(outcomes), row_problems, index)
