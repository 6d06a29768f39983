"""Look for planted secrets everywhere the platform writes, prints or logs.

Why shared: the Salesforce credential test (tests/integration/test_salesforce_secrets.py) and the
whole-pipeline secrets test (tests/reliability/test_secrets.py) ask the same question of the same
artifacts: is any of these values in a log record, on stdout, in a file under LTC_HOME, in a
text column of the warehouse, in dlt's compressed state or in a Dagster event? One scanner means
one definition of "found", so a hole fixed here is fixed for both.

A secret counts as found in any of the forms a careless writer would produce: as is,
URL-encoded (a DSN, a query string), and base64 (HTTP Basic auth, a pickled or encoded blob),
the latter at each of the three byte alignments so that a secret embedded in a longer encoded
string (`user:secret`) is still found, and its longest run of characters no URL encoder escapes
(encoders differ on the rest). Files are searched as raw bytes and also decoded where
the bytes hide text: gzip (dlt's job files), zip members (XLSX), PDF content streams (zlib), and
DuckDB databases (queried: DuckDB compresses its strings on disk).
"""

from __future__ import annotations

import base64
import gzip
import io
import logging
import re
import traceback
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb


def _base64_fragments(raw: bytes) -> set[bytes]:
    """The part of base64(x + raw + y) that depends on `raw` alone, for each alignment of `raw`."""
    out = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0")
        start = -(-offset * 8 // 6)  # ceil: the first character made of `raw`'s bits only
        end = (offset + len(raw)) * 8 // 6  # floor: the last one
        fragment = encoded[start:end]
        out.add(fragment)
        out.add(fragment.replace(b"+", b"-").replace(b"/", b"_"))  # base64url
    return out


def variants(secret: str) -> dict[str, bytes]:
    """Every searched form of `secret`, by a name for the report."""
    raw = secret.encode()
    forms = {"plain": raw, "url-encoded": quote(secret, safe="").encode(),
             "form-encoded": quote_plus(secret).encode()}
    forms.update({f"base64 #{i}": f for i, f in enumerate(sorted(_base64_fragments(raw)))})
    # URL encoders disagree on which characters to escape (SQLAlchemy leaves `+` alone, for one):
    # the longest run of characters that no encoder touches finds the secret under any of them
    runs = re.findall(r"[A-Za-z0-9._~-]{16,}", secret)
    if runs and max(runs, key=len) != secret:
        forms["its longest unescaped run"] = max(runs, key=len).encode()
    seen, unique = set(), {}
    for name, form in forms.items():  # drop repeats (a secret without special characters)
        if form not in seen:
            seen.add(form)
            unique[name] = form
    return unique


def hits(secrets: Mapping[str, str], data: str | bytes, where: str) -> list[str]:
    """`"<kind> (<form>) in <where>"` for every secret found in `data`."""
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    found = []
    for kind, value in secrets.items():
        for form, needle in variants(value).items():
            if needle in blob:
                found.append(f"{kind} ({form}) in {where}")
                break
    return found


def log_leaks(secrets: Mapping[str, str], records: Iterable[logging.LogRecord]) -> list[str]:
    """Secrets in log records: the message, every attribute (args, extra) and the exception."""
    leaks = []
    for rec in records:
        parts = [rec.getMessage(), repr(rec.__dict__)]
        if rec.exc_info and rec.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(rec.exc_info[1])))
        leaks += hits(secrets, "\n".join(parts), f"a log record of {rec.name} ({rec.levelname})")
    return leaks


def exception_text(exc: BaseException) -> str:
    """The whole chain as `ltc --verbose` or a Dagster failure event would show it, plus the args."""
    parts = ["".join(traceback.format_exception(exc))]
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(repr(exc.args))
        parts.append(repr(getattr(exc, "__dict__", {})))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


# ---- the warehouse ----------------------------------------------------------------------------


def duckdb_leaks(secrets: Mapping[str, str], path: Path) -> list[str]:
    """Every text column of every table, and dlt's zlib-compressed pipeline state, in a DuckDB file.

    One query per table (all its text columns at once, one regex of every form of every secret):
    a warehouse holds hundreds of text columns, a query per column and secret would take minutes."""
    from dlt.common.versioned_state import decompress_state

    needles = {form.decode("utf-8", "replace") for value in secrets.values() for form in variants(value).values()}
    pattern = "|".join(re.escape(n) for n in sorted(needles))
    leaks = []
    with duckdb.connect(str(path), read_only=True) as con:
        columns: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns c "
            "join information_schema.tables t using (table_catalog, table_schema, table_name) "
            "where t.table_type = 'BASE TABLE' and c.data_type in ('VARCHAR', 'JSON', 'BLOB')"
        ).fetchall():
            columns.setdefault((schema, table), []).append(column)
        for (schema, table), names in sorted(columns.items()):
            probes = ", ".join(f'bool_or(regexp_matches(cast("{c}" as varchar), $1))' for c in names)
            flags = con.execute(f'select {probes} from "{schema}"."{table}"', [pattern]).fetchone()
            for column, flag in zip(names, flags):
                if flag:
                    values = con.execute(f'select cast("{column}" as varchar) from "{schema}"."{table}" '
                                         f'where regexp_matches(cast("{column}" as varchar), $1)', [pattern]).fetchall()
                    leaks += hits(secrets, "\n".join(v for (v,) in values), f"{path.name}: {schema}.{table}.{column}")
            if table == "_dlt_pipeline_state" and "state" in names:
                for (blob,) in con.execute(f'select state from "{schema}"."{table}"').fetchall():
                    leaks += hits(secrets, repr(decompress_state(blob)), f"{path.name}: {schema}._dlt_pipeline_state")
    return leaks


# ---- files -------------------------------------------------------------------------------------

_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def decoded_views(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """`data` as stored, and the text compressed inside it: gzip, zip members, PDF streams."""
    yield name, data
    if data[:2] == b"\x1f\x8b":  # dlt's gzipped job files
        yield f"{name} (gunzipped)", gzip.decompress(data)
    if data[:4] == b"PK\x03\x04":  # XLSX and any other zip
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield f"{name}!{member}", archive.read(member)
    if data[:5] == b"%PDF-":
        for i, match in enumerate(_PDF_STREAM.finditer(data)):
            try:
                yield f"{name} (PDF stream {i})", zlib.decompress(match.group(1))
            except zlib.error:
                continue  # an image or an uncompressed stream: already searched as raw bytes


def file_leaks(secrets: Mapping[str, str], root: Path, *, expect_files: bool = True,
               label: str | None = None) -> list[str]:
    """Secrets in every file under `root` (bytes, decoded views, DuckDB tables)."""
    leaks, seen = [], 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        seen += 1
        where = f"{label or root.name}/{path.relative_to(root)}"
        for view, data in decoded_views(where, path.read_bytes()):
            leaks += hits(secrets, data, view)
        if path.suffix == ".duckdb":
            leaks += duckdb_leaks(secrets, path)
    assert seen or not expect_files, f"nothing was written under {root}: is it the folder in use?"
    return leaks


def assert_no_leaks(secrets: Mapping[str, str], home: Path, records, out: str, err: str, *extra: tuple[str, str],
                    expect_files: bool = True) -> None:
    """No secret in the log records, stdout/stderr, the `(where, text)` extras or any file under `home`."""
    leaks = log_leaks(secrets, records)
    leaks += hits(secrets, out, "stdout") + hits(secrets, err, "stderr")
    for where, text in extra:
        leaks += hits(secrets, text, where)
    leaks += file_leaks(secrets, home, expect_files=expect_files)
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))


# ---- log capture -------------------------------------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Logs:
    """Every record the root logger and the non-propagating loggers (dlt's) saw during capture."""

    def __init__(self, collector: _Collector, dlt_logger: str):
        self._collector, self.dlt_logger = collector, dlt_logger

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self._collector.records)


@contextmanager
def capture_all_logs() -> Iterator[Logs]:
    """Every log record at DEBUG, dlt's included (its logger does not propagate to root). Set
    RUNTIME__LOG_LEVEL=DEBUG before entering, so dlt logs at DEBUG too."""
    from dlt.common import logger as dlt_logger
    from dlt.common.runtime.run_context import active

    dlt_level = dlt_logger.LOGGER.level if dlt_logger.LOGGER else logging.WARNING  # dlt's default
    active().runtime_config  # dlt creates its logger now rather than mid-run
    collector = _Collector()
    names = {"", dlt_logger.LOGGER.name} | {name for name, lg in logging.root.manager.loggerDict.items()
                                            if isinstance(lg, logging.Logger) and not lg.propagate}
    saved = []
    for name in sorted(names):
        lg = logging.getLogger(name or None)
        saved.append((lg, dlt_level if lg is dlt_logger.LOGGER else lg.level))
        lg.setLevel(logging.DEBUG)
        lg.addHandler(collector)
    try:
        yield Logs(collector, dlt_logger.LOGGER.name)
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(collector)
