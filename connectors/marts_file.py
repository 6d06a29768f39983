"""The DuckDB file of the marts, beside the warehouse, and how a warehouse connection sees it.

Why a file of its own: the marts are the public end of the warehouse, and each report edition
publishes a copy of them that other tools read (reports/warehouse.py). While the marts lived in the
warehouse file, that copy was a second write of every mart (scan, compress, write): at 1M leads
9.5-10 s of wall and 14 CPU-s of the reports phase, more than the rendering beside it. dbt now
builds the marts straight into `<warehouse>.marts.duckdb` (dbt-duckdb's `attach`, the marts'
`database` config: dbt_project/profiles.yml, dbt_project.yml), so publishing is a copy of a file
dbt has already written and closed (343 MB at 1M leads: under a second).

The file holds schema `marts` (every mart) and, in `main`, the key-scoped marts' incremental state
(macros/incremental.sql: DuckDB lets one transaction write to one database only, and a mart's
state is written in the mart's own transaction). It belongs to its warehouse: the two are built,
locked (connectors/warehouse_lock.py: the warehouse's advisory lock covers both) and deleted
together. A warehouse connection opened by `read_connection` attaches it read-only as
`MARTS_CATALOG` with a search path that resolves `marts.<name>` there, so every reader keeps
writing `marts.fct_leads`; a connection on the marts file itself (the reports' copy, a BI tool on
the published copy) resolves `marts.<name>` as a plain schema.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MARTS_CATALOG = "ltc_marts"  # dbt_project.yml's `+database` of the marts, the profile's attach alias
MARTS_SCHEMA = "marts"
_SUFFIX = ".duckdb"


def marts_path(duckdb_path: Path | str) -> Path:
    """The marts file of the warehouse `duckdb_path`: `warehouse.duckdb` -> `warehouse.marts.duckdb`
    (dbt_project/profiles.yml derives the same name from LTC_DUCKDB_PATH)."""
    path = Path(duckdb_path)
    stem = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else path.name
    return path.with_name(f"{stem}.marts{_SUFFIX}")


def marts_database(duckdb_path: Path | str) -> Path:
    """The DuckDB file that holds the warehouse's `marts` schema: its marts file, or the warehouse
    itself when it has none (built before the marts had a file of their own)."""
    marts = marts_path(duckdb_path)
    return marts if marts.exists() else Path(duckdb_path)


def wal_path(duckdb_path: Path | str) -> Path:
    """DuckDB's write-ahead log of the database file `duckdb_path`."""
    path = Path(duckdb_path)
    return path.with_name(path.name + ".wal")


def companion_files(duckdb_path: Path | str) -> list[Path]:
    """The warehouse's marts file and its write-ahead log: what goes wherever the warehouse goes."""
    marts = marts_path(duckdb_path)
    return [marts, wal_path(marts)]


def warehouse_files(duckdb_path: Path | str) -> list[Path]:
    """Every file of the warehouse `duckdb_path`: it, its log and its companions."""
    return [Path(duckdb_path), wal_path(duckdb_path), *companion_files(duckdb_path)]


def attach_marts(con, duckdb_path: Path | str, *, read_only: bool = True) -> bool:
    """Attach the warehouse's marts file to `con` (a connection on the warehouse file) as
    `MARTS_CATALOG`, so that `marts.<name>` resolves to it; False, and nothing done, when the
    warehouse has no marts file yet (no dbt build since it was created)."""
    marts = marts_path(duckdb_path)
    if not marts.exists():
        return False
    mode = "read_only" if read_only else "read_only false"
    con.execute(f"attach '{_sql_string(marts)}' as {MARTS_CATALOG} ({mode})")
    current = con.execute("select current_database()").fetchone()[0]
    # the warehouse first, so that unqualified names and raw_<system>.<table> stay the warehouse's
    con.execute(f"set search_path = '{_ident(current)}.main,{MARTS_CATALOG}.{MARTS_SCHEMA}'")
    return True


def copy_warehouse(source: Path | str, target: Path | str) -> Path:
    """Copy the warehouse file `source` to `target` with what goes with it: each one's write-ahead log
    and the marts file (`companion_files`); a companion `source` lacks is removed at `target`, so
    the copy never pairs with another build's marts. Returns `target`."""
    for src, dst in zip(warehouse_files(source), warehouse_files(target)):
        if src.exists():
            shutil.copyfile(src, dst)
        else:
            dst.unlink(missing_ok=True)
    return Path(target)


def connect_warehouse(duckdb_path: Path | str, *, read_only: bool = True):
    """`duckdb.connect` on the warehouse file with its marts file attached (`attach_marts`, read-only
    when the connection is): for tools and tests that open the warehouse themselves. The pipeline's
    own readers use connectors.warehouse_lock.read_connection, which also takes the advisory lock."""
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=read_only)
    try:
        attach_marts(con, duckdb_path, read_only=read_only)
    except BaseException:
        con.close()
        raise
    return con


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""').replace("'", "''") + '"'


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")
