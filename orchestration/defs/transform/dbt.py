"""dbt models, tests and seeds as Dagster assets and asset checks.

`DbtProject` + `@dbt_assets` (rather than the state-backed component) because we need our own
translator and a pure, testable function for the CLI arguments. The manifest must be prepared
before this module is imported (`make dbt-parse`, or `prepare_dbt_manifest()` in tests);
`prepare_if_dev()` only covers `dagster dev`.

The whole selection runs as ONE `dbt build` per run: a dbt invocation costs about 4–5 s of fixed
overhead (reference/reliability-and-performance.md §1.1), so splitting it per model would
multiply that.
"""


import importlib.metadata
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from connectors.settings import Settings
from connectors.warehouse_lock import WarehouseBusy, write_access
from orchestration.defs.ingest.assets import DUCKDB_WRITER_POOL
from orchestration.prepare import dbt_executable, is_venv_dbt, keep_partial_parse, prune_dbt_run_dirs

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"


def dbt_target(settings: Settings) -> str:
    """The dbt target for the configured warehouse: `dev` (DuckDB) or `pg` (Postgres)."""
    return "pg" if settings.warehouse == "postgres" else "dev"


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target=dbt_target(Settings.from_env()))
dbt_project.prepare_if_dev()


def dbt_build_args(settings: Settings) -> list[str]:
    """The `dbt build` arguments for a run; the as-of date is passed explicitly when fixed.

    Unit tests are left out: they test the models' code on fixed inputs, not the data, so they
    belong to CI (tests/dbt/test_dbt_build.py runs the whole `dbt build`, unit tests included), not
    to every run. There are 36, about 1.3 s of a thread each: 20 s of a 2-core run at any scale."""
    return ["build", "--exclude-resource-type", "unit_test", *dbt_file_log_args(), *dbt_vars_args(settings)]


def dbt_file_log_args() -> list[str]:
    """The run's dbt.log at info level: each node's start, result and timing, and every warning and
    error, not dbt's default debug level, which also logs every statement and connection event of
    the ~375 nodes. Measured side by side at 10k leads (3 runs each, alternately): the whole build
    11.26 s at debug, 10.63 s at info, 10.15 s with no file (--log-level-file none). dbt's own
    DBT_LOG_LEVEL_FILE (say `debug`, to see the SQL each node ran) wins when set."""
    return [] if os.environ.get("DBT_LOG_LEVEL_FILE") else ["--log-level-file", "info"]


@cache
def _project_vars() -> dict[str, Any]:
    """dbt_project.yml's own vars (the values dbt uses when --vars does not name them)."""
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]


def dbt_vars(settings: Settings) -> dict[str, str]:
    """The dbt vars the environment decides, where they differ from dbt_project.yml's: the as-of
    date when fixed, and the reporting currency (LTC_REPORTING_CURRENCY, an ISO 4217 code checked by
    Settings: it reaches the SQL as a quoted literal through macro reporting_currency())."""
    values = {}
    if settings.as_of is not None:
        values["as_of"] = settings.as_of.isoformat()
    if settings.reporting_currency != _project_vars()["reporting_currency"]:
        values["reporting_currency"] = settings.reporting_currency
    return values


def dbt_vars_args(settings: Settings) -> list[str]:
    """`--vars` with `dbt_vars`, or nothing when the project's defaults stand: what every dbt call
    of a run (build, parse, docs) must agree on for dbt to reuse its partial parse."""
    values = dbt_vars(settings)
    return ["--vars", json.dumps(values)] if values else []


def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
    fqn = dbt_resource_props.get("fqn", [])
    # fqn = [project, folder, subfolder..., name]; models/<layer>/<domain>/<name>.sql
    return fqn[1] if len(fqn) > 2 else dbt_resource_props.get("resource_type", "dbt")


def _domain(dbt_resource_props: Mapping[str, Any]) -> str | None:
    fqn = dbt_resource_props.get("fqn", [])
    return fqn[2] if len(fqn) > 3 else None


class LtcDbtTranslator(DagsterDbtTranslator):
    """Groups models by layer and system/domain (`staging_salesforce`, `marts_finance`) and
    sets owners. Source keys come from the sources' `meta.dagster.asset_key`, which is how the dbt
    sources are stitched to the `raw/<system>/<table>` ingestion assets."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props.get("resource_type") == "source":
            return None
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        layer, domain = _layer(dbt_resource_props), _domain(dbt_resource_props)
        return f"{layer}_{domain}" if domain else layer

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        """The model's own description (which states its grain), its grain from `meta` when the
        description does not repeat it, and the file to open — not the SQL, which the default
        puts in every description and which made the catalog unreadable."""
        description = (dbt_resource_props.get("description") or "").strip()
        meta = (dbt_resource_props.get("config") or {}).get("meta") or dbt_resource_props.get("meta") or {}
        grain = meta.get("grain")
        parts = [description or f"dbt {dbt_resource_props.get('resource_type', 'node')} "
                                f"`{dbt_resource_props.get('name')}`."]
        if grain and grain not in description:
            parts.append(f"Grain: {grain}")
        if dbt_resource_props.get("original_file_path"):
            parts.append(f"Defined in `dbt_project/{dbt_resource_props['original_file_path']}`.")
        return "\n\n".join(parts)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        owners = (dbt_resource_props.get("meta") or {}).get("dagster", {}).get("owners")
        return owners or ["team:analytics-engineering"]


translator = LtcDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=True)
)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    project=dbt_project,
    pool=DUCKDB_WRITER_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def ltc_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Staging → intermediate → marts in one `dbt build`; dbt tests become asset checks."""
    prune_dbt_run_dirs()
    settings = Settings.from_env()
    with _warehouse_write(settings, context):
        _refuse_half_applied_loads(settings)  # under the lock: no ingest is mid-load meanwhile
        invocation = dbt.cli(dbt_build_args(settings), context=context)
        yield from invocation.stream()
    keep_partial_parse(invocation.target_path)


@contextmanager
def _warehouse_write(settings: Settings, context: dg.AssetExecutionContext) -> Iterator[None]:
    """The DuckDB warehouse's writer lock for the whole build (connectors/warehouse_lock.py): a
    check or docs step of another run reading the file makes dbt wait instead of fail."""
    if settings.warehouse != "duckdb":
        yield
        return
    try:
        with write_access(settings.duckdb_path, on_wait=context.log.info):
            yield
    except WarehouseBusy as exc:
        raise dg.Failure(str(exc)) from exc


def _refuse_half_applied_loads(settings: Settings) -> None:
    """Fail the step, before dbt starts, when an interrupted ingest left a system's raw tables
    holding part of a load (connectors/ingest.py `pending_loads`); the message says which system
    and what to run. Within `ltc run` each ingest finishes its pending load before dbt starts."""
    from connectors.ingest import HalfAppliedLoad, refuse_half_applied_loads  # dlt: only when run

    try:
        refuse_half_applied_loads(settings)
    except HalfAppliedLoad as exc:
        raise dg.Failure(str(exc)) from exc


class LtcDbtCliResource(DbtCliResource):
    """`DbtCliResource` without the two things it does in this process before dbt starts, which
    cost 6.9 s of a 67 s dbt step on a 2-core machine (profiled, scale 2000), serially:
    - `dbt --version` in a subprocess (a whole dbt start-up), to learn the version of the dbt it
      will run. When that is the dbt of this environment (`dbt_executable()`), the installed
      dbt-core distribution says the same without a process.
    - a dbt adapter built in this process (importing dbt-core, loading the profile and project),
      used only by `fetch_row_counts()` / `fetch_column_metadata()`, which we do not call. Without
      it dagster-dbt behaves as when building one fails: no adapter, nothing else changes.
    Whoever needs those fetches can use `DbtCliResource` itself."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if is_venv_dbt(self.dbt_executable):
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_resource() -> DbtCliResource:
    # The dbt next to this interpreter: `dbt` need not be on PATH (it is not under `make`).
    return LtcDbtCliResource(
        project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )
