"""Run one connector end to end: `run_ingest("salesforce" | "erp" | "finance" | "marketing")`.

The single entry point the CLI (`ltc ingest <system>`) and the Dagster ingest assets call, so both
get the same configuration checks, the same `_loaded_at` stamp and the same result shape. Config
problems become an `IngestError` whose one-line message says what to set; failures inside a run are
unwrapped from dlt's exception chain so the real reason (e.g. the Salesforce API limit) is on top.

Also here, `pending_loads`: which systems a killed ingest left with a half-applied load (dlt commits
each raw table on its own), so dbt can refuse to build from them until that system's next ingest
has finished the load (the dbt asset calls `refuse_half_applied_loads`).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests
import urllib3
from dlt.common.schema.exceptions import DataValidationError
from dlt.common.storages import FileStorage, LoadStorage
from dlt.common.storages.load_package import PackageStorage, ParsedLoadJobFileName
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.pipeline.exceptions import PipelineStepFailed

from connectors.collector import full_collections_paused
from connectors.landing import (
    QUARANTINE_TABLE,
    empty_tables,
    LandingConfigError,
    drop_folder,
    make_pipeline,
    pipeline_name,
    stamp_loaded_at,
    utc_now,
)
from connectors.settings import SYSTEMS, Settings
from connectors.values import FileFormatError
from connectors.warehouse_lock import WarehouseBusy, write_access

if TYPE_CHECKING:
    import sqlalchemy as sa


class IngestError(RuntimeError):
    """An ingest could not run or failed; `str()` is a one-line reason with what to do."""


@dataclass
class IngestResult:
    system: str
    load_ids: list[str]
    rows_loaded: dict[str, int]  # raw table → rows written by this run (dlt's internal tables left out)
    notes: list[str] = field(default_factory=list)  # cursor windows, files landed/skipped/quarantined
    seconds: float = 0.0

    @property
    def load_id(self) -> str | None:
        return self.load_ids[-1] if self.load_ids else None


# ---- per-system source builders ---------------------------------------------------------------

def _salesforce(settings: Settings, objects: list[str] | None, run_start, notes, closers, after):
    from connectors.salesforce.client import SalesforceAuth, build_client
    from connectors.salesforce.source import DELETED_TABLE, RunStop, configured_objects, salesforce_source, table_name

    SalesforceAuth.from_settings(settings)  # fail fast on config before any network call
    by_table = {table_name(o): o for o in configured_objects(settings)}
    chosen = _choose(objects, {**by_table, DELETED_TABLE: None}, "salesforce")
    stop = RunStop()
    after.append(stop.raise_if_stopped)
    return salesforce_source(lambda: build_client(settings), [by_table[t] for t in chosen if t in by_table],
                             run_start, notes,
                             api_reserve_pct=settings.salesforce_api_reserve_pct,
                             bulk_threshold=settings.salesforce_bulk_threshold,
                             stop=stop, lookback_s=settings.salesforce_lookback_s,
                             deletes=not objects or DELETED_TABLE in objects)


def _erp(settings: Settings, objects: list[str] | None, run_start, notes, closers, after):
    # SQLAlchemy only here: 0.22 s of import that the other systems' ingests need not pay
    import sqlalchemy as sa

    from connectors.erp.mapping import ErpMappingError, load_mapping
    from connectors.erp.source import QUARANTINE, check_source, erp_source, reconcile_deletes

    if not settings.erp_url:
        raise IngestError("LTC_ERP_URL is not set; set it to the ERP's SQLAlchemy URL (sandbox: sqlite:///$LTC_HOME/sandbox/erp.sqlite)")
    url = sa.engine.make_url(settings.erp_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_file():
        # SQLite would silently create an empty database: say so instead
        raise IngestError(f"LTC_ERP_URL points at {url.database}, which does not exist; generate the sandbox or fix the path")
    if settings.erp_backend not in ("auto", "pyarrow", "connectorx"):
        raise IngestError(f"LTC_ERP_BACKEND={settings.erp_backend!r}; choose auto, pyarrow or connectorx")
    backend = _erp_backend(settings.erp_backend, url)
    try:
        mapping = load_mapping(settings.erp_mapping)
    except ErpMappingError as exc:
        raise IngestError(f"erp: {exc}") from exc
    chosen = _choose(objects, [*mapping.entities, QUARANTINE], "erp")
    entities = [c for c in chosen if c != QUARANTINE]
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        url = url.set(drivername="postgresql+psycopg2")  # SQLAlchemy 2.1 defaults to psycopg 3; we ship psycopg2
    engine = sa.create_engine(url)
    closers.append(engine.dispose)
    try:
        skipped = check_source(engine, mapping, entities, notes)
    except ErpMappingError as exc:
        engine.dispose()
        raise IngestError(f"erp: {exc}") from exc
    notes.append(f"erp: {url.render_as_string(hide_password=True)} mapping {mapping.path.name} "
                 f"backend {backend} tables {', '.join(entities)}")

    def reconcile():
        pipeline = make_pipeline("erp", settings)
        with pipeline.sql_client() as client:
            runs, last_load = client.execute_sql(
                f"select count(*), max(load_id) from {client.make_qualified_table_name('_dlt_loads')} "
                "where schema_name = 'erp'")[0]
        check = sa.create_engine(url)
        try:
            reconcile_deletes(check, mapping, [e for e in entities if e not in skipped], pipeline.sql_client,
                              int(runs), notes, last_load)
        finally:
            check.dispose()

    after.append(reconcile)
    return erp_source(engine, tuple(entities), mapping=mapping, backend=backend,
                      lookback_s=settings.erp_lookback_s, notes=notes, skipped=skipped,
                      first_loads=empty_tables(make_pipeline("erp", settings), entities))


def _erp_backend(choice: str, url: sa.engine.URL) -> str:
    """`auto`: connectorx (Rust, reads PostgreSQL's binary protocol straight into Arrow) for a
    PostgreSQL ERP when it is installed, else pyarrow. connectorx is not used for SQLite: there we
    read every column as stored text (see erp/source.py), where it gains nothing."""
    if choice != "auto":
        return choice
    if url.get_backend_name() == "postgresql" and importlib.util.find_spec("connectorx") is not None:
        return "connectorx"
    return "pyarrow"


def _finance(settings: Settings, objects: list[str] | None, run_start, notes, closers, after):
    from connectors.finance.bank_csv import load_map
    from connectors.finance.source import bank_scan, finance_source

    if not settings.finance_drop:
        raise IngestError("LTC_FINANCE_DROP is not set; point it at the drop folder or s3://bucket/prefix")
    location = settings.finance_drop
    if "://" not in location:  # a local folder: resolved like the other drops (clear error if missing)
        location = str(drop_folder(location, "LTC_FINANCE_DROP"))
    try:
        scan = bank_scan(location, quarantine=settings.finance_quarantine, settle_s=settings.finance_settle_s,
                         csv_map=load_map(settings.finance_csv_map), workers=settings.finance_workers)
        if not objects or "bank_transactions" in objects:
            scan.start_workers()  # up while dlt sets up the pipeline below
            closers.append(scan.close)
    except (OSError, ValueError) as exc:
        raise IngestError(f"finance: {exc}") from exc
    try:
        source = finance_source(location, notes, scan=scan,
                                first_load="bank_transactions" in empty_tables(make_pipeline("finance", settings),
                                                                               ["bank_transactions"]),
                                reporting_currency=settings.reporting_currency)
    except BaseException as exc:
        scan.close()  # the run stops before it starts: so do the workers
        if isinstance(exc, (OSError, ValueError)):
            raise IngestError(f"finance: {exc}") from exc
        raise
    chosen = _choose(objects, source.resources, "finance")
    if "bank_transactions" in chosen and QUARANTINE_TABLE not in chosen:
        chosen.append(QUARANTINE_TABLE)  # a bad statement file is reported in the same run
    return source.with_resources(*chosen)


def _marketing(settings: Settings, objects: list[str] | None, run_start, notes, closers, after):
    """Ad-spend drop (`LTC_ADSPEND_DROP`) and/or the marketing API (`LTC_MARKETING_API_URL`): each
    part runs when configured, a part not configured is skipped with a note (Dagster selects every
    catalogued table), and at least one must be configured."""
    from connectors.marketing.hubspot import PARENT, TABLES as API_TABLES, HubSpotApi, prepare_landing
    from connectors.marketing.source import ADSPEND_TABLES, marketing_source

    chosen = _choose(objects, [*ADSPEND_TABLES, *API_TABLES], "marketing")
    want_files = any(t in ADSPEND_TABLES for t in chosen)
    want_api = [PARENT.get(t, t) for t in chosen if t in API_TABLES]
    if not settings.adspend_drop and not settings.marketing_api_url:
        raise IngestError("marketing: neither LTC_ADSPEND_DROP (the ad-spend export folder) nor "
                          "LTC_MARKETING_API_URL (the marketing API) is set; set at least one")
    folder = api = None
    first_loads: set[str] = set()
    if want_files:
        if settings.adspend_drop:
            folder = drop_folder(settings.adspend_drop, "LTC_ADSPEND_DROP")
        else:
            notes.append("ad_spend: LTC_ADSPEND_DROP is not set, skipped")
    if want_api:
        if settings.marketing_api_url:
            if not settings.marketing_api_token:
                raise IngestError("LTC_MARKETING_API_URL is set but LTC_MARKETING_API_TOKEN is not; set the API's bearer token")
            api = HubSpotApi(settings.marketing_api_url, settings.marketing_api_token,
                             timeout_s=settings.marketing_api_timeout_s)
            first_loads = prepare_landing(make_pipeline("marketing", settings), "hubspot_contacts" in want_api, notes)
        else:
            notes.append("marketing api: LTC_MARKETING_API_URL is not set, skipped")
    source = marketing_source(folder, notes, api, first_loads)
    # the ad-spend resources always run together (a file's rows and its quarantine land in one run)
    selected = [r for r in source.resources if r in ADSPEND_TABLES or r in want_api]
    return source.with_resources(*dict.fromkeys(selected))


_BUILDERS = {"salesforce": _salesforce, "erp": _erp, "finance": _finance, "marketing": _marketing}
assert set(_BUILDERS) == set(SYSTEMS)


def _choose(objects: list[str] | None, known, system: str) -> list[str]:
    if not objects:
        return list(known)
    unknown = sorted(set(objects) - set(known))
    if unknown:
        raise IngestError(f"unknown {system} object(s) {unknown}; choose from {sorted(known)}")
    return [o for o in known if o in set(objects)]  # source order, no duplicates


# ---- error unwrapping ---------------------------------------------------------------------------

def _root_cause(exc: BaseException, known: tuple[type[BaseException], ...] = ()) -> BaseException:
    """The first exception of a `known` type down the cause chain (our own errors, which say what
    to do, wrap the library's), else the deepest one."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if known and isinstance(exc, known):
            return exc
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _chain(exc: BaseException):
    """`exc`, its causes and the errors wrapped in them (urllib3's `reason`, requests' first arg)."""
    todo, seen = [exc], set()
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args[:1]]


_TIMEOUT_SETTING = {"salesforce": "LTC_SF_TIMEOUT_S", "marketing": "LTC_MARKETING_API_TIMEOUT_S"}


def _transport_failure(system: str, exc: BaseException) -> str | None:
    """A one-line, actionable account of a network fault that outlived the transport's retries
    (a read timeout, a body cut short, a body that is not complete JSON), or None if `exc` is none
    of those. The library text (URLs with whole SOQL queries, nested reprs) stays in the chain."""
    chain = list(_chain(exc))
    if any(isinstance(e, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
           for e in chain):
        setting = _TIMEOUT_SETTING.get(system)
        what = "the source did not answer within the read timeout"
        hint = f"; if it keeps happening, check the network path or raise {setting}" if setting else ""
    elif any(isinstance(e, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError,
                            http.client.IncompleteRead)) for e in chain):
        what = "an answer arrived cut short (the connection closed before the announced bytes came)"
        hint = "; if it keeps happening, check the network path (proxy, load balancer) to the source"
    elif any(isinstance(e, (json.JSONDecodeError, requests.exceptions.JSONDecodeError)) for e in chain):
        what = "an answer was not complete JSON (cut short on the way)"
        hint = "; if it keeps happening, check the network path (proxy, load balancer) to the source"
    else:
        return None
    return (f"{system}: {what}, also on the transport's retries; nothing from this run was loaded and the "
            f"cursors are unchanged: re-run later{hint}")


def _source_errors(system: str) -> tuple[type[BaseException], ...]:
    """A connector's own error types that name the fix (imported only for that system's runs)."""
    if system == "marketing":
        from connectors.marketing.hubspot import HubSpotApiError, HubSpotDataError

        return (HubSpotApiError, HubSpotDataError)
    return ()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def _file_format(settings: Settings) -> str | None:
    """Parquet into DuckDB: dict rows are normalised to Arrow and DuckDB reads the files natively.
    dlt's default for DuckDB, INSERT VALUES statements, cost 50 s and 2.9 GB of peak RSS for 100k
    Salesforce rows (DuckDB parsing one huge statement) against seconds and a flat few hundred MB
    this way (benchmarks/salesforce.py). Postgres keeps dlt's default (it takes no parquet); the
    Spark landing (files) is Parquet by definition."""
    return "parquet" if settings.warehouse in ("duckdb", "spark") else None


def _complete_interrupted_normalize(pipeline, notes: list[str]) -> None:
    """Finish dlt's normalize commit that a kill interrupted. dlt commits a normalized package in two
    steps ("Committing storage, do not kill this process"): it renames the new package into
    load/normalized, then deletes the extracted one recursively. Killed in between or mid-delete,
    the extracted package stays (often without its new_jobs folder) beside the committed one, and
    every later normalize failed on it (FileNotFoundError: .../normalize/extracted/<id>/new_jobs),
    or would normalize it a second time. A package already in the load storage was normalized:
    its extracted leftover is deleted, which is the step dlt did not get to
    (tests/reliability/test_crash_anywhere.py)."""
    extracted = pipeline._get_normalize_storage().extracted_packages
    if not os.path.isdir(extracted.storage.storage_path):  # a pipeline that never extracted
        return
    load = pipeline._get_load_storage()
    for load_id in extracted.list_packages():
        committed = (load.normalized_packages, load.loaded_packages)
        if any(p.storage.has_folder(p.get_package_path(load_id)) for p in committed):
            extracted.delete_package(load_id)
            notes.append(f"removed the leftover of package {load_id}, normalized before a crash")


def _warehouse_write(settings: Settings, notes: list[str]):
    """The DuckDB warehouse's writer lock for the whole ingest: dlt opens the file read-write to
    read its state and the tables' emptiness (while the source is built), to load, and the ERP's
    delete reconciliation after the load. Readers and other writers wait for it, and it waits for
    them (connectors/warehouse_lock.py). Postgres and Spark landing need none."""
    if settings.warehouse != "duckdb":
        return contextlib.nullcontext()
    return write_access(settings.duckdb_path, on_wait=notes.append)


def _rewind_interrupted_appends(pipeline, notes: list[str]) -> None:
    """Make a killed load's appends safe to resume. A first load into an empty table appends
    (`landing.empty_tables`), and dlt resumes a package by running its started jobs again unless
    the job recorded its outcome (a "pending transition", written right after the destination
    committed). A kill between that commit and the record leaves a job that may or may not have
    written its rows; run again, an append would write them twice. For each table the package
    appends to with such a job, the rows of this load id are deleted and every job of that table
    in the package (completed and started) is queued again, so each row lands once. Merge tables
    need none of this: a merge run again replaces what it wrote."""
    packages = pipeline._get_load_storage().normalized_packages
    for load_id in packages.list_packages():
        unrecorded = [ParsedLoadJobFileName.parse(f) for f in packages.list_started_jobs(load_id)
                      if packages.load_pending_transition(load_id, FileStorage.get_file_name_from_file_path(f)) is None]
        if not unrecorded:
            continue
        tables = packages.load_schema(load_id).tables
        appended = sorted({job.table_name for job in unrecorded
                           if tables.get(job.table_name, {}).get("write_disposition") == "append"})
        if appended:
            _reload_tables(pipeline, packages, load_id, appended)
            notes.append(f"package {load_id}: a crash stopped it while appending to {', '.join(appended)}; "
                         "their rows of that load were removed and loaded again")


def _reload_tables(pipeline, packages: PackageStorage, load_id: str, tables: list[str]) -> None:
    with pipeline.sql_client() as client:
        for table in tables:
            with contextlib.suppress(DatabaseUndefinedRelation):  # killed before it was created
                client.execute_sql(f"delete from {client.make_qualified_table_name(table)} "
                                   "where _dlt_load_id = %s", load_id)
    for state in (PackageStorage.COMPLETED_JOBS_FOLDER, PackageStorage.STARTED_JOBS_FOLDER):
        for path in packages.storage.list_folder_files(packages.get_job_state_folder_path(load_id, state)):
            name = FileStorage.get_file_name_from_file_path(path)
            if ParsedLoadJobFileName.parse(name).table_name in tables:
                packages.clear_pending_transition(load_id, name)
                packages._move_job(load_id, state, PackageStorage.NEW_JOBS_FOLDER, name)


def _finish_pending(pipeline, notes: list[str]) -> None:
    """Load what an interrupted run left behind (extracted or normalised packages, with the state
    they carry) before extracting anew. `Pipeline.run` would load them too, but then return
    without extracting, so a run after a crash would quietly read nothing new."""
    _complete_interrupted_normalize(pipeline, notes)
    if pipeline.has_pending_data:
        pipeline.normalize()
        _rewind_interrupted_appends(pipeline, notes)
        pipeline.load()
        notes.append("finished loading the package(s) an interrupted run left pending")


def _drop_refused_package(pipeline, exc: PipelineStepFailed) -> None:
    """Drop the load package a schema contract refused (e.g. ad_spend's `data_type: freeze`).

    dlt keeps a package whose normalize failed as pending, and every later run normalizes pending
    packages first (`_finish_pending`, and `Pipeline.run` itself), so the same violation failed
    every later run, conforming data or not, until someone dropped the package by hand (found by
    tests/reliability/test_checklist_dbt.py, checklist #8). Refused at normalize, nothing of it
    reached the warehouse, and its source state (e.g. the ad-spend files marked as read) goes with
    it, so the refused input is read, and refused, again until it is fixed: loud, never lost."""
    if exc.step == "normalize":
        pipeline.abort_packages()  # deletes the pending packages, restores local state and schemas


# ---- half-applied loads (checked before dbt reads the raw tables) -------------------------------

class HalfAppliedLoad(RuntimeError):
    """A system's raw tables hold part of a load package; `str()` names the systems and the fix."""


def pending_loads(settings: Settings) -> dict[str, list[str]]:
    """Per source system, the load packages whose load step began but did not finish: a kill (or a
    failure) in dlt's load step, which commits each raw table's job on its own. Such a system's raw
    tables mix the interrupted load (5 to 14 of Salesforce's 16 tables in
    tests/integration/test_salesforce_crash.py) with the previous one until its next ingest
    finishes the package (`_finish_pending`). Empty when every load is whole.

    Reads the pipelines' working folders only (`<dlt_dir>/ltc_<system>/load/normalized`): no dlt
    pipeline is attached, so nothing is created for a system never ingested, and nothing is
    restored from the warehouse. A package normalized but not yet touched by the load step, an
    extracted one, or one being normalized changed nothing in the warehouse and is not reported."""
    found: dict[str, list[str]] = {}
    for system in SYSTEMS:
        folder = settings.dlt_dir / pipeline_name(system) / "load" / LoadStorage.NORMALIZED_FOLDER
        if not folder.is_dir():  # never ingested in this home (or never got past extract)
            continue
        packages = PackageStorage(FileStorage(str(folder)), "normalized")
        begun = [load_id for load_id in packages.list_packages() if _load_begun(packages, load_id)]
        if begun:
            found[system] = begun
    return found


def _load_begun(packages: PackageStorage, load_id: str) -> bool:
    """Whether the load step may have written part of package `load_id` to the warehouse: a job
    started, completed or failed (dlt moves a job out of `new_jobs` before running it), or dlt's
    own test for a partial load says so (schema migrated, a committed job not moved yet, a job
    retried). An unreadable package counts: better a refused build than a torn one."""
    try:
        jobs = packages.get_load_package_jobs(load_id)
        if any(jobs[state] for state in ("started_jobs", "completed_jobs", "failed_jobs")):
            return True
        return PackageStorage.is_package_partially_loaded(packages.get_load_package_info(load_id))
    except Exception:  # noqa: BLE001 - a damaged package: report it, the next ingest says more
        return True


def refuse_half_applied_loads(settings: Settings) -> None:
    """Raise `HalfAppliedLoad` if any system has a half-applied load (`pending_loads`); the dbt
    asset calls this before dbt runs, so marts are never built from a torn raw layer."""
    pending = pending_loads(settings)
    if not pending:
        return
    which = "; ".join(f"{system} (package {', '.join(ids)})" for system, ids in pending.items())
    commands = " and ".join(f"`ltc ingest {system}`" for system in pending)
    raise HalfAppliedLoad(
        f"dbt was not run: an ingest was interrupted while loading (or is loading now, outside this "
        f"run), so raw tables hold only part of its load: {which}. Run that ingest again ({commands}, "
        f"or `ltc run`, which ingests before it builds): it finishes the interrupted load first. The "
        f"marts are unchanged: they still show the last build, made from complete loads.")


# ---- entry point ----------------------------------------------------------------------------------

def run_ingest(system: str, settings: Settings | None = None, objects: list[str] | None = None) -> IngestResult:
    """Land one system into `raw_<system>`; `objects` limits it to those raw tables."""
    if system not in _BUILDERS:
        raise IngestError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    settings = settings or Settings.from_env()
    notes: list[str] = []
    try:
        with _warehouse_write(settings, notes), full_collections_paused():
            return _land(system, settings, objects, notes)
    except WarehouseBusy as exc:
        raise IngestError(f"{system}: {exc}") from exc


def _land(system: str, settings: Settings, objects: list[str] | None, notes: list[str]) -> IngestResult:
    from connectors.salesforce.errors import SalesforceConfigError, SalesforceExtractError, SalesforceLimitError

    started = time.perf_counter()
    run_start = utc_now()
    closers: list = []
    after: list = []  # checks once the load committed (e.g. the Salesforce quota stop)
    config_errors = (SalesforceConfigError, LandingConfigError, SalesforceLimitError, SalesforceExtractError)
    try:
        source = _BUILDERS[system](settings, objects, run_start, notes, closers, after)
        pipeline = make_pipeline(system, settings)
    except IngestError:
        raise
    except config_errors as exc:
        raise IngestError(f"{system}: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        failure = _transport_failure(system, exc)  # e.g. a describe call timed out
        raise IngestError(failure or f"{system}: cannot reach the source ({_one_line(exc)}); check the URL "
                          "and that it is running") from exc
    stamp_loaded_at(source, run_start, hint=system != "erp")
    try:
        _finish_pending(pipeline, notes)
        info = pipeline.run(source, loader_file_format=_file_format(settings))
    except PipelineStepFailed as exc:
        refused = _root_cause(exc, (DataValidationError,))
        if isinstance(refused, DataValidationError):
            _drop_refused_package(pipeline, exc)
            raise IngestError(f"{system}: refused by the table's schema contract, nothing of this run "
                              f"landed: {_one_line(refused)}") from exc
        # errors whose message already says what happened and what to do (the deepest link of the
        # chain can be a bystander, e.g. the StopIteration a paging generator was handling)
        actionable = (*config_errors, FileFormatError, *_source_errors(system))
        cause = _root_cause(exc, actionable)
        if isinstance(cause, actionable):
            raise IngestError(f"{system}: {cause}") from exc
        failure = _transport_failure(system, exc)
        if failure is not None:
            raise IngestError(failure) from exc
        raise IngestError(f"{system} ingest failed in step {exc.step}: {_one_line(cause)}") from exc
    finally:
        for close in closers:
            close()
    try:
        for check in after:
            check()
    except config_errors as exc:
        raise IngestError(f"{system}: {exc}") from exc
    trace = pipeline.last_trace
    counts = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
    rows = {t: n for t, n in counts.items() if not t.startswith("_dlt")}
    return IngestResult(
        system=system,
        load_ids=list(info.loads_ids),
        rows_loaded=rows,
        notes=notes,
        seconds=round(time.perf_counter() - started, 3),
    )
