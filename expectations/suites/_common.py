"""Building blocks shared by the raw suites: the spec type and declarative helpers.

Every expectation carries a GX severity: ``critical`` (reported as ``error``: key integrity,
required columns, non-empty table) or ``warning`` (reported as ``warn``: value sets, ranges,
column-pair order). The runner turns the worst failed severity into `ValidationSummary.severity`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # GX takes seconds to import; only suite building needs it.
    import great_expectations as gx


def _gxe() -> Any:
    import great_expectations.expectations as gxe

    return gxe

Severity = Literal["error", "warn"]
ERROR = "critical"
WARN = "warning"

ISO_CURRENCY = r"^[A-Z]{3}$"
SALESFORCE_ID = r"^[a-zA-Z0-9]{18}$"


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
    """Tiny fluent wrapper so suite modules read as a list of declarations."""

    def __init__(self, system: str, table: str, key: str | Sequence[str]) -> None:
        self.key: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key)
        self.name = suite_name(system, table)
        self.meta = {"key": list(self.key), "layer": "raw", "system": system, "table": table}
        self.expectations: list[Any] = []

    def _add(self, expectation: Any) -> "SuiteBuilder":
        # Collected and passed to the constructor: `ExpectationSuite.add_expectation` needs an
        # active data context, which suites built in code (without a context) do not have.
        self.expectations.append(expectation)
        return self

    # --- error level -------------------------------------------------------------------------
    def key_integrity(self) -> "SuiteBuilder":
        """Key columns not null, and unique (single or compound)."""
        for col in self.key:
            self._add(_gxe().ExpectColumnValuesToNotBeNull(column=col, severity=ERROR))
        if len(self.key) == 1:
            self._add(_gxe().ExpectColumnValuesToBeUnique(column=self.key[0], severity=ERROR))
        else:
            self._add(_gxe().ExpectCompoundColumnsToBeUnique(column_list=list(self.key), severity=ERROR))
        return self

    def required_columns(self, columns: Iterable[str]) -> "SuiteBuilder":
        cols = list(dict.fromkeys([*self.key, *columns]))
        return self._add(
            _gxe().ExpectTableColumnsToMatchSet(column_set=cols, exact_match=False, severity=ERROR)
        )

    def non_empty(self) -> "SuiteBuilder":
        return self._add(_gxe().ExpectTableRowCountToBeBetween(min_value=1, severity=ERROR))

    def not_null(self, *columns: str, severity: str = ERROR) -> "SuiteBuilder":
        for col in columns:
            self._add(_gxe().ExpectColumnValuesToNotBeNull(column=col, severity=severity))
        return self

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
        severity: str = WARN,
    ) -> "SuiteBuilder":
        return self._add(
            _gxe().ExpectColumnValuesToBeBetween(
                column=column,
                min_value=min_value,
                max_value=max_value,
                strict_min=strict_min,
                severity=severity,
            )
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

    def build(self) -> "gx.ExpectationSuite":
        import great_expectations as gx

        return gx.ExpectationSuite(name=self.name, expectations=list(self.expectations), meta=dict(self.meta))


def salesforce_common(b: SuiteBuilder, extra_required: Iterable[str] = ()) -> SuiteBuilder:
    """What every Salesforce object must have: the common fields, a well-formed Id."""
    return (
        b.non_empty()
        .key_integrity()
        .required_columns(["id", "is_deleted", "created_date", "system_modstamp", *extra_required])
        .not_null("system_modstamp")
        .in_set("is_deleted", [True, False])
        .regex("id", SALESFORCE_ID)
    )
