"""Building blocks shared by the suites: the spec type and declarative helpers.

Every expectation carries a GX severity: ``critical`` (reported as ``error``) for what would make
the numbers wrong — key integrity, required columns, a non-empty table, money that is negative
or not an exact decimal, an unknown currency, a table shrinking since the last load — or
``warning`` (reported as ``warn``) for the rest: value sets of stages and statuses, plausible
maxima, dates in the future, column-pair order. The runner turns the worst failed severity into
`ValidationSummary.severity`; orchestration blocks downstream models on ``error`` only.

Currencies are checked against the ISO 4217 list the finance connector uses
(`connectors.finance.checks.iso4217`, Babel's CLDR list), not a ``^[A-Z]{3}$`` pattern: ``XYZ``
matches the pattern and converts to nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from connectors.finance.checks import DEFAULT_MAX_AMOUNT, iso4217
from expectations.core import FUTURE_DATE_PARAM, FUTURE_TIMESTAMP_PARAM

if TYPE_CHECKING:  # GX takes seconds to import; only suite building needs it.
    import great_expectations as gx


def _gxe() -> Any:
    import great_expectations.expectations as gxe

    return gxe

Severity = Literal["error", "warn"]
ERROR = "critical"
WARN = "warning"

SALESFORCE_ID = r"^[a-zA-Z0-9]{18}$"
# Above this an amount is a misplaced decimal separator or a balance read as an entry (the bank
# file readers refuse such files outright: connectors/finance/checks.py).
PLAUSIBLE_MAX_AMOUNT = int(DEFAULT_MAX_AMOUNT)


def iso_currencies() -> list[str]:
    """Every ISO 4217 code, historic ones included, sorted (a stable suite definition)."""
    return sorted(iso4217())


@dataclass(frozen=True)
class SuiteSpec:
    """How to check one raw table.

    - `suite`: factory returning a fresh `gx.ExpectationSuite` (suites are mutable; build one per run).
    - `key`: the column, or columns for a compound key, that identify a row; failing rows are
      reported by these values only.
    - `severity`: the suite's blocking level. ``"error"`` suites gate downstream models; the
      per-expectation severity (see `ValidationSummary.severity`) says whether a given failure
      is an error or a warning.
    """

    suite: Callable[[], "gx.ExpectationSuite"]
    key: str | tuple[str, ...]
    severity: Severity = "error"

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)


def suite_name(system: str, table: str) -> str:
    return f"raw_{system}__{table}"


class SuiteBuilder:
    """Tiny fluent wrapper so suite modules read as a list of declarations.

    `optional=True` on a column check means the column may be absent (dlt creates a column only
    once it has seen a value; some orgs lack a field): the check is skipped then, whatever its
    severity. `optional_table=True` means the table itself may not exist yet.
    """

    def __init__(
        self,
        system: str,
        table: str,
        key: str | Sequence[str],
        *,
        name: str | None = None,
        layer: str = "raw",
        optional_table: bool = False,
    ) -> None:
        self.key: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key)
        self.name = name or suite_name(system, table)
        self.meta: dict[str, Any] = {"key": list(self.key), "layer": layer, "system": system, "table": table}
        if optional_table:
            self.meta["optional"] = True
        self.expectations: list[Any] = []

    def _add(self, expectation: Any) -> "SuiteBuilder":
        # Collected and passed to the constructor: `ExpectationSuite.add_expectation` needs an
        # active data context, which suites built in code (without a context) do not have.
        self.expectations.append(expectation)
        return self

    @staticmethod
    def _meta(check: str | None = None, optional: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if check:
            meta["check"] = check
        if optional:
            meta["optional_column"] = True
        return meta

    # --- error level -------------------------------------------------------------------------
    def key_integrity(self) -> "SuiteBuilder":
        """Key columns not null, and unique (single or compound)."""
        for col in self.key:
            self._add(_gxe().ExpectColumnValuesToNotBeNull(column=col, severity=ERROR))
        return self.unique(self.key, severity=ERROR)

    def unique(self, columns: Sequence[str], severity: str = ERROR) -> "SuiteBuilder":
        if len(columns) == 1:
            return self._add(_gxe().ExpectColumnValuesToBeUnique(column=columns[0], severity=severity))
        return self._add(_gxe().ExpectCompoundColumnsToBeUnique(column_list=list(columns), severity=severity))

    def required_columns(self, columns: Iterable[str]) -> "SuiteBuilder":
        cols = list(dict.fromkeys([*self.key, *columns]))
        return self._add(
            _gxe().ExpectTableColumnsToMatchSet(column_set=cols, exact_match=False, severity=ERROR)
        )

    def non_empty(self) -> "SuiteBuilder":
        return self._add(_gxe().ExpectTableRowCountToBeBetween(min_value=1, severity=ERROR))

    def not_null(self, *columns: str, severity: str = ERROR, optional: bool = False) -> "SuiteBuilder":
        for col in columns:
            self._add(
                _gxe().ExpectColumnValuesToNotBeNull(column=col, severity=severity, meta=self._meta(optional=optional))
            )
        return self

    def currency(self, column: str, *, optional: bool = False) -> "SuiteBuilder":
        """An ISO 4217 code (error: an unknown currency converts to nothing)."""
        return self._add(
            _gxe().ExpectColumnValuesToBeInSet(
                column=column, value_set=iso_currencies(), severity=ERROR, meta=self._meta(optional=optional)
            )
        )

    def money(
        self, column: str, *, optional: bool = False, max_value: int | None = PLAUSIBLE_MAX_AMOUNT
    ) -> "SuiteBuilder":
        """An exact decimal (error), not negative (error), below a plausible maximum (warn)."""
        meta = self._meta(optional=optional)
        self._add(_gxe().ExpectColumnValuesToBeOfType(column=column, type_="Decimal", severity=ERROR, meta=meta))
        self._add(_gxe().ExpectColumnValuesToBeBetween(column=column, min_value=0, severity=ERROR, meta=meta))
        if max_value is not None:
            self.between(column, max_value=max_value, check="plausible_max", optional=optional)
        return self

    def positive_rate(self, column: str, *, optional: bool = False) -> "SuiteBuilder":
        """An FX rate: an exact decimal, strictly positive (both errors: a zero rate zeroes money)."""
        meta = self._meta(optional=optional)
        self._add(_gxe().ExpectColumnValuesToBeOfType(column=column, type_="Decimal", severity=ERROR, meta=meta))
        return self._add(
            _gxe().ExpectColumnValuesToBeBetween(column=column, min_value=0, strict_min=True, severity=ERROR, meta=meta)
        )

    # --- warn level --------------------------------------------------------------------------
    def in_set(self, column: str, values: Iterable[Any], severity: str = WARN) -> "SuiteBuilder":
        return self._add(
            _gxe().ExpectColumnValuesToBeInSet(column=column, value_set=list(values), severity=severity)
        )

    def between(
        self,
        column: str,
        min_value: Any = None,
        max_value: Any = None,
        *,
        strict_min: bool = False,
        strict_max: bool = False,
        severity: str = WARN,
        check: str | None = None,
        optional: bool = False,
    ) -> "SuiteBuilder":
        return self._add(
            _gxe().ExpectColumnValuesToBeBetween(
                column=column,
                min_value=min_value,
                max_value=max_value,
                strict_min=strict_min,
                strict_max=strict_max,
                severity=severity,
                meta=self._meta(check, optional),
            )
        )

    def not_future(self, column: str, kind: Literal["date", "timestamp"] = "date") -> "SuiteBuilder":
        """Not after the run date plus the tolerance (`core.run_parameters`). `kind` must match
        the column: pandas cannot compare a date column with a timestamp."""
        if kind == "date":
            return self.between(column, max_value={"$PARAMETER": FUTURE_DATE_PARAM}, check="not_future")
        return self.between(
            column, max_value={"$PARAMETER": FUTURE_TIMESTAMP_PARAM}, strict_max=True, check="not_future"
        )

    def regex(self, column: str, pattern: str, severity: str = WARN) -> "SuiteBuilder":
        return self._add(_gxe().ExpectColumnValuesToMatchRegex(column=column, regex=pattern, severity=severity))

    def ordered(self, later: str, earlier: str, severity: str = WARN) -> "SuiteBuilder":
        """`later >= earlier` on rows where both are present."""
        return self._add(
            _gxe().ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=later,
                column_B=earlier,
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                severity=severity,
            )
        )

    def equal(self, column_a: str, column_b: str, severity: str = ERROR) -> "SuiteBuilder":
        """`a = b` on every row where either is present (a null on one side fails)."""
        return self._add(
            _gxe().ExpectColumnPairValuesToBeEqual(
                column_A=column_a, column_B=column_b, ignore_row_if="both_values_are_missing", severity=severity
            )
        )

    def build(self) -> "gx.ExpectationSuite":
        import great_expectations as gx

        return gx.ExpectationSuite(name=self.name, expectations=list(self.expectations), meta=dict(self.meta))


def salesforce_common(b: SuiteBuilder, extra_required: Iterable[str] = ()) -> SuiteBuilder:
    """What every Salesforce object must have: the common fields, a well-formed Id, audit
    timestamps that are not in the future."""
    return (
        b.non_empty()
        .key_integrity()
        .required_columns(["id", "is_deleted", "created_date", "system_modstamp", *extra_required])
        .not_null("system_modstamp")
        .in_set("is_deleted", [True, False])
        .regex("id", SALESFORCE_ID)
        .not_future("created_date", "timestamp")
        .not_future("system_modstamp", "timestamp")
    )
