"""Great Expectations suites as code, and one runner returning plain results.

Importing this package switches GX usage statistics off for the process before GX itself is
imported: validation never touches the network. `expectations.suites` stays import-light (GX
is imported only when a suite is built), so loading the Dagster definitions stays fast.

Modules: `suites` (the suites: raw tables and report datasets over the marts), `runner` (the
public API: `validate_table`, `validate_query`, `validate_marts`, `validate_frame`), `sql_engine`
(the same suites evaluated inside DuckDB), `core` (what both engines share), `state` (row counts
remembered between validations), `warehouse` (the suites on the configured warehouse, DuckDB or
Postgres: what the pipeline's checks call).
"""

import os

os.environ["GX_ANALYTICS_ENABLED"] = "false"
