"""The Dagster instance this project runs against.

SQLite storage under `$LTC_HOME/dagster` by default, so a laptop needs no server; the same folder
is `DAGSTER_HOME` for `make dev`, which is how runs started by `ltc run` show up in the UI.
Telemetry is off: nothing at run time may need the internet.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from connectors.settings import Settings

_DAGSTER_YAML = """\
# Written by ltc. Instance storage defaults to SQLite in this folder.
telemetry:
  enabled: false
"""


def ensure_dagster_home(settings: Settings) -> Path:
    """Create `$LTC_HOME/dagster` with a dagster.yaml and point DAGSTER_HOME at it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(settings: Settings) -> dg.DagsterInstance:
    ensure_dagster_home(settings)
    return dg.DagsterInstance.get()
