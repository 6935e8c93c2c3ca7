"""The great-expectations suite on manifest.parquet, and its Data Docs.

Two kinds of expectation: structural ones (schema, row count, known splits and sources) say the
corpus as a whole is wrong and stop the gate; row-level ones (nulls, duplicates, caption length,
image size) name rows, which become quarantine entries. GX runs in an ephemeral context: nothing
is written except the Data Docs site, which is pointed at a folder of our choosing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.checks.reasons import Problem, Reason
from components.validation.manifest_table import ManifestTable
from components.validation.unique_columns import UniqueColumns, UniqueFindings

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
    unique: str | None = None  # uniqueness of this column: found by grouping, not by GX


# Each builder pairs an expectation with the function that turns GX's unexpected rows (index
# labels: positions in the whole manifest) into quarantine problems.


def _in_set(gxe: Any, column: str, known: tuple[str, ...], reason: Reason, knob: str) -> _Spec:
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        allowed = f"{', '.join(known)} (validate.{knob})"
        values = df[column]
        return {
            i: Problem(reason, f"{column} {values.loc[i]!r} is not one of {allowed}") for i in rows
        }

    expectation = gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(known))
    return _Spec(expectation, True, (reason,), flag)


def _not_null(gxe: Any, column: str) -> _Spec:
    def flag(df: pd.DataFrame, rows: list[int]) -> dict[int, Problem]:
        detail = f"manifest column {column!r} is empty"
        return {i: Problem(Reason.MISSING_FIELD, detail) for i in rows}

    expectation = gxe.ExpectColumnValuesToNotBeNull(column=column)
    return _Spec(expectation, False, (Reason.MISSING_FIELD,), flag)


def _unique(column: str, reason: Reason) -> _Spec:
    """A column whose values must be unique across the whole manifest: GX sees one chunk at a
    time, so this one is answered by grouping (unique_columns.py)."""
    return _Spec(None, False, (reason,), unique=column)


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
            size = measure(df[column].loc[i])
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
    """The row-level suite, in precedence order: a row's first failing expectation names its
    reason. (The table-level checks, columns and row count, read the parquet footer.)"""
    import great_expectations.expectations as gxe

    captions = (cfg.min_caption_chars, cfg.max_caption_chars)
    sides = (cfg.min_image_side, cfg.max_image_side)
    caption_reasons = (Reason.CAPTION_TOO_SHORT, Reason.CAPTION_TOO_LONG)
    side_reasons = (Reason.IMAGE_TOO_SMALL, Reason.IMAGE_TOO_LARGE)
    between = gxe.ExpectColumnValuesToBeBetween
    return [
        _in_set(gxe, "split", cfg.known_splits, Reason.UNKNOWN_SPLIT, "known_splits"),
        _in_set(gxe, "source", cfg.known_sources, Reason.UNKNOWN_SOURCE, "known_sources"),
        *(_not_null(gxe, column) for column in KEY_COLUMNS),
        _unique("id", Reason.DUPLICATE_ID),
        _unique("image_sha256", Reason.DUPLICATE_IMAGE),
        _bounded(gxe.ExpectColumnValueLengthsToBeBetween, "caption", captions, caption_reasons,
                 "caption_chars", len, empty=Reason.EMPTY_CAPTION),
        _bounded(between, "width", sides, side_reasons, "image_side", int),
        _bounded(between, "height", sides, side_reasons, "image_side", int),
    ]  # fmt: skip


def _table_outcomes(table: ManifestTable, cfg: ValidateConfig) -> list[ExpectationOutcome]:
    """The contract's columns and the row count, from the footer: true of the whole table, where
    GX would only see a chunk."""
    missing = sorted(c for c in MANIFEST_COLUMNS if c not in table.columns)
    upper = cfg.max_rows if cfg.max_rows is not None else float("inf")
    return [
        ExpectationOutcome(
            name="expect_table_columns_to_match_set",
            column=None,
            structural=True,
            success=not missing,
            observed=f"missing columns: {', '.join(missing)}" if missing else None,
        ),
        ExpectationOutcome(
            name="expect_table_row_count_to_be_between",
            column=None,
            structural=True,
            success=cfg.min_rows <= table.n_rows <= upper,
            observed=_short(table.n_rows),
        ),
    ]


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


def _merged(first: ExpectationOutcome | None, chunk: ExpectationOutcome) -> ExpectationOutcome:
    """One expectation's outcome over the chunks seen so far."""
    if first is None:
        return chunk
    return replace(
        first,
        success=first.success and chunk.success,
        unexpected_count=first.unexpected_count + chunk.unexpected_count,
        unexpected_sample=(first.unexpected_sample + chunk.unexpected_sample)[:SAMPLE_SIZE],
        error=first.error or chunk.error,
    )


def _docs_site(folder: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(folder)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }  # fmt: skip


def _unique_outcome(found: UniqueFindings, spec: _Spec) -> ExpectationOutcome:
    return ExpectationOutcome(
        name="expect_column_values_to_be_unique",
        column=found.column,
        structural=spec.structural,
        success=not found.missing and found.unexpected_count == 0,
        unexpected_count=found.unexpected_count,
        unexpected_sample=found.sample,
        error=f'the column "{found.column}" is not in the manifest' if found.missing else None,
        reasons=tuple(r.value for r in spec.reasons),
    )


class _ChunkValidator:
    """GX's ephemeral context, suite and checkpoint, built once and run on chunk after chunk;
    each run adds its page to the Data Docs site in `docs_dir`."""

    def __init__(self, specs: list[_Spec], docs_dir: Path | None) -> None:
        from components.settings import apply_quiet_env

        apply_quiet_env()  # GX_ANALYTICS_ENABLED=false, before GX reads its settings

        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # The ephemeral context ships a default site in a fresh system temp dir: drop it, so
        # only our folder is written (and nothing is left behind in /tmp).
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
        self.specs = {suite.add_expectation(s.expectation).id: s for s in specs}
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="manifest", data=batch, suite=suite)
        )
        self.checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name="manifest",
                validation_definitions=[definition],
                actions=actions,
                result_format={"result_format": "COMPLETE"},  # every unexpected row's index
            )
        )

    def run(self, chunk: pd.DataFrame) -> dict[int, tuple[ExpectationOutcome, list[int]]]:
        """id(spec) -> (its outcome on this chunk, the unexpected rows' positions)."""
        run = self.checkpoint.run(batch_parameters={"dataframe": chunk})
        by_id = {r.expectation_config.id: r for v in run.run_results.values() for r in v.results}
        found = {}
        for expectation_id, spec in self.specs.items():
            gx_result = by_id[expectation_id]
            rows = (gx_result.result or {}).get("unexpected_index_list") or []
            failed = [int(i) for i in rows] if not gx_result.success else []
            found[id(spec)] = (_outcome(spec, gx_result), failed)
        return found


def _chunk_columns(specs: list[_Spec]) -> list[str]:
    columns = [s.expectation.column for s in specs if s.expectation is not None]
    return list(dict.fromkeys(columns))


def run_manifest_suite(
    manifest: pd.DataFrame | ManifestTable,
    cfg: ValidateConfig,
    docs_dir: Path | None = None,
    scratch: Path | None = None,
) -> SuiteResult:
    """Validate the manifest (`row_problems` is keyed by row position) chunk by chunk, in memory
    bounded by the chunk size, and, when `docs_dir` is given, build the GX Data Docs site there
    (index.html at its top; a page per chunk). `scratch` holds the grouping's spill files."""
    table = manifest if isinstance(manifest, ManifestTable) else ManifestTable(manifest)
    specs = _specs(cfg)
    by_key = {id(s): s for s in specs}
    validator = _ChunkValidator([s for s in specs if s.expectation is not None], docs_dir)
    unique = UniqueColumns([s.unique for s in specs if s.unique], table.n_rows, scratch)
    outcomes: dict[int, ExpectationOutcome] = {}
    flagged: dict[int, dict[int, Problem]] = {id(s): {} for s in specs}
    with unique:
        for chunk in table.frames([*_chunk_columns(specs), *unique.needs]):
            for key, (outcome, rows) in validator.run(chunk).items():
                outcomes[key] = _merged(outcomes.get(key), outcome)
                spec = by_key[key]
                if spec.flag is not None and rows:
                    flagged[key] |= spec.flag(chunk, rows)
            unique.add(chunk)
        for spec in specs:
            if spec.unique:
                found = unique.result(spec.unique, spec.reasons[0])
                outcomes[id(spec)] = _unique_outcome(found, spec)
                flagged[id(spec)] = found.problems
    row_problems: dict[int, Problem] = {}
    for spec in specs:  # suite order: the first problem wins
        for pos, problem in flagged[id(spec)].items():
            row_problems.setdefault(pos, problem)
    ordered = (*_table_outcomes(table, cfg), *(outcomes[id(s)] for s in specs))
    index = Path(docs_dir).resolve() / "index.html" if docs_dir is not None else None
    return SuiteResult(ordered, dict(sorted(row_problems.items())), index)
